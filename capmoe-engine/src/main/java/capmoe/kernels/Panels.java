package capmoe.kernels;

import capmoe.weights.DType;
import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A float weight matrix W [N x K] (BF16, F16 or F32) repacked for {@link MatMul}'s register-tiled
 * kernel, as llama.cpp's CPU "repack" does ({@code ggml/src/ggml-cpu/repack.cpp}): the columns of
 * y = x W^T are cut into panels of {@link #NR} = 2L output columns (L = floats per vector of
 * this machine), and each panel stores, for k = 0..K-1, the NR weights W[p*NR .. p*NR+NR-1, k]
 * side by side: one row of the panel is what one step of the kernel multiplies by one broadcast
 * x[r, k]. The kernel then reads every weight once per row tile, contiguously, and never sums
 * across lanes.
 *
 * <p>Layout of panel p (of {@code ceil(N / NR)}; columns past N are zero), one row per k:
 * <ul>
 *   <li>BF16: L little-endian ints of two halves each, in the stored dtype (no widening, same
 *       bytes as the checkpoint): int lane i holds column p*NR+i in its low half and column
 *       p*NR+L+i in its high half. So {@code i << 16} gives columns 0..L-1 of the panel as floats
 *       and {@code i & 0xFFFF0000} columns L..2L-1: one op per L weights, no shuffle.</li>
 *   <li>F16: the NR halves in column order (the stored bytes), so that the prefill's widening is
 *       one elementwise conversion (vcvtph2ps) into the F32 layout, and decode's, read as L ints,
 *       gives the even and the odd columns ({@code MatMul.evenF16}, {@code MatMul.oddF16}). Finite
 *       halves only: a matrix holding an infinity or a NaN is packed as F32 panels
 *       ({@link #dtype} F32).</li>
 *   <li>F32: the NR floats in column order.</li>
 * </ul>
 * Built once per matrix, on its first matmul ({@link Matrix#panels}), in {@link WeightMemory} (2 MB
 * pages where Linux lends them; freed with the matrix), over all cores.
 *
 * @param dtype BF16, F16 or F32, as stored (F32 for an F16 matrix with an infinity or a NaN)
 * @param n     output columns (W's rows)
 * @param k     inner dimension (W's columns)
 * @param data  the panels, panel p at {@code p * k * bytesPerK}
 */
public record Panels(DType dtype, int n, int k, MemorySegment data) {

    private static final int L = FloatVector.SPECIES_PREFERRED.length();
    /** Output columns per panel: two vectors of floats. */
    public static final int NR = 2 * L;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    /** Bytes of one panel row (one k): NR halves or NR floats. */
    public long bytesPerK() {
        return (long) NR * (dtype == DType.F32 ? 4 : 2);
    }

    /** Number of panels: ceil(n / NR). */
    public int panels() {
        return (n + NR - 1) / NR;
    }

    /** Where panel p starts in {@link #data}. */
    public long offset(int p) {
        return (long) p * k * bytesPerK();
    }

    /** True for the dtypes this layout holds. */
    public static boolean supports(DType d) {
        return d == DType.BF16 || d == DType.F16 || d == DType.F32;
    }

    /**
     * W repacked into panels (see the class Javadoc); parallel over panels on all cores. An F16
     * matrix holding an infinity or a NaN (exponent 31) is packed as F32 panels instead, widened
     * exactly: the F16 kernels' widening is exact for finite halves only ({@code MatMul.evenF16}).
     */
    public static Panels pack(Matrix w) {
        if (!supports(w.dtype())) throw new IllegalArgumentException("matrix " + w.name() + ": " + w.dtype() + " has no panel layout");
        if (w.dtype() == DType.F32) return packF32(w);
        int n = w.rows(), k = w.cols(), count = (n + NR - 1) / NR;
        boolean bf16 = w.dtype() == DType.BF16;
        long panelBytes = (long) k * NR * 2;
        MemorySegment out = WeightMemory.allocate(panelBytes * count), src = w.data();
        AtomicBoolean nonFinite = new AtomicBoolean();
        Parallel.defaults().forRange(count, 1, (p0, p1) -> {
            short[] row = new short[k], panel = new short[k * NR];
            int exponents = 0;   // F16: bit 15 set once a half with exponent 31 is seen ((e + 0x400) carries into it)
            for (int p = p0; p < p1; p++) {
                java.util.Arrays.fill(panel, (short) 0);
                for (int i = 0; i < NR && p * NR + i < n; i++) {
                    MemorySegment.copy(src, Bf16.I16, (long) (p * NR + i) * k * 2, row, 0, k);
                    int slot = bf16 ? (i < L ? 2 * i : 2 * (i - L) + 1) : i;  // BF16: low half of lane i, or high half of lane i-L
                    for (int c = 0; c < k; c++) panel[c * NR + slot] = row[c];
                    if (!bf16) for (int c = 0; c < k; c++) exponents |= (row[c] & 0x7C00) + 0x400;
                }
                MemorySegment.copy(panel, 0, out, I16, p * panelBytes, panel.length);
            }
            if ((exponents & 0x8000) != 0) nonFinite.set(true);
        });
        return nonFinite.get() ? packF32(w) : new Panels(w.dtype(), n, k, out);
    }

    /** W's values (exact as fp32) as F32 panels. */
    private static Panels packF32(Matrix w) {
        int n = w.rows(), k = w.cols(), count = (n + NR - 1) / NR;
        long panelBytes = (long) k * NR * 4;
        MemorySegment out = WeightMemory.allocate(panelBytes * count);
        Parallel.defaults().forRange(count, 1, (p0, p1) -> {
            float[] row = new float[k], panel = new float[k * NR];
            for (int p = p0; p < p1; p++) {
                java.util.Arrays.fill(panel, 0f);
                for (int i = 0; i < NR && p * NR + i < n; i++) {
                    w.row(p * NR + i, row, 0);
                    for (int c = 0; c < k; c++) panel[c * NR + i] = row[c];
                }
                MemorySegment.copy(panel, 0, out, F32, p * panelBytes, panel.length);
            }
        });
        return new Panels(DType.F32, n, k, out);
    }
}
