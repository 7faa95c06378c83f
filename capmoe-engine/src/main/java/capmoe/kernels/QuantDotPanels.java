package capmoe.kernels;

import capmoe.weights.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A Q8_0 / Q4_0 weight matrix W [N x K] in the layout of {@link QuantDot}'s native kernels ("dot
 * panels", {@code capmoe-engine/src/main/c/quant_dot.c} says it byte for byte): panels of
 * {@link #COLUMNS} output columns, per panel and block of 32 k steps the 16 fp16 scales, then the
 * quants as vpdpbusd reads them — for each group of 4 consecutive k steps one 64-byte row holding
 * the 16 columns' 4 bytes (Q8_0: q + 128, unsigned; Q4_0: ggml's nibble bytes, low nibble k and high
 * nibble k + 16). That is the format's own bytes per weight (34 / 18 per 32, columns padded to 16
 * with zero weights), built once per matrix at load in {@link WeightMemory} (2 MB pages where
 * Linux lends them), over all cores; a matrix in {@link DotMode#REDUCED} keeps only this copy.
 *
 * @param dtype Q8_0 or Q4_0
 * @param n     output columns (W's rows)
 * @param k     inner dimension (W's columns), a multiple of 32
 * @param data  the panels
 */
public record QuantDotPanels(DType dtype, int n, int k, MemorySegment data) {

    /** Output columns per panel (one zmm of 16 fp32 / int32 lanes). */
    public static final int COLUMNS = 16;

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public QuantDotPanels {
        if (!dtype.quantized()) throw new IllegalArgumentException(dtype + " has no dot-panel layout");
        if (k % 32 != 0) throw new IllegalArgumentException(dtype + " dot panels need a multiple of 32 columns, got " + k);
    }

    /** The C kernels' format code: 0 = Q8_0, 1 = Q4_0. */
    int format() {
        return dtype == DType.Q8_0 ? 0 : 1;
    }

    /** Number of panels: ceil(n / 16). */
    public int panels() {
        return (n + COLUMNS - 1) / COLUMNS;
    }

    /**
     * W repacked from its row-major ggml blocks ({@link Matrix#data}), or, for a matrix kept only as
     * {@link QuantPanels}, from those (their blocks rebuilt 16 rows at a time); parallel over panels
     * on all cores.
     */
    public static QuantDotPanels pack(Matrix w) {
        DType format = w.dtype();
        if (!format.quantized()) throw new IllegalArgumentException("matrix " + w.name() + ": " + format + " is not Q8_0/Q4_0");
        int n = w.rows(), k = w.cols();
        QuantDotPanels out = new QuantDotPanels(format, n, k, WeightMemory.allocate(QuantDot.panelBytes(format, n, k)));
        int count = out.panels();
        MemorySegment rowMajor = w.hasRowMajor() ? w.data() : null;
        Parallel.defaults().forRange(count, 1, (p0, p1) -> {
            if (rowMajor != null) {
                QuantDot.pack(out, rowMajor, 0, p0, p1);
                return;
            }
            QuantPanels q = w.quantPanels();
            long rowBytes = format.bytes(k);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment blocks = arena.allocate(COLUMNS * rowBytes);
                for (int p = p0; p < p1; p++) {
                    int j0 = p * COLUMNS, j1 = Math.min(n, j0 + COLUMNS);
                    for (int j = j0; j < j1; j++) rowBlocks(q, j, blocks, (j - j0) * rowBytes);
                    QuantDot.pack(out, blocks, j0, p, p + 1);
                }
            }
        });
        return out;
    }

    /** Row j of W as ggml's row-major blocks (fp16 d, then the quants), read back from {@link QuantPanels}' bytes. */
    private static void rowBlocks(QuantPanels q, int j, MemorySegment out, long at) {
        int nr = Panels.NR, l = nr / 2, p = j / nr, i = j % nr, slot = i < l ? 2 * i : 2 * (i - l) + 1;
        int bs = q.dtype().blockBytes();
        MemorySegment data = q.data();
        for (int b = 0; b < q.k() / 32; b++) {
            long o = q.offset(p, b), to = at + (long) b * bs;
            out.set(I16, to, data.get(I16, o + 2L * slot));
            long qs = o + QuantPanels.scaleBytes();
            if (q.dtype() == DType.Q8_0) {
                for (int c = 0; c < 32; c++) out.set(ValueLayout.JAVA_BYTE, to + 2 + c, data.get(ValueLayout.JAVA_BYTE, qs + (long) c * nr + i));
            } else {                 // QuantPanels: row c/2 holds k step c (low) and c+1 (high); ggml: byte t holds t (low) and t+16 (high)
                for (int t = 0; t < 16; t++) {
                    int lo = nibble(data, qs, nr, i, t), hi = nibble(data, qs, nr, i, t + 16);
                    out.set(ValueLayout.JAVA_BYTE, to + 2 + t, (byte) (lo | hi << 4));
                }
            }
        }
    }

    /** Weight W[j, c] as stored here, dequantized (d·q, exact in fp32): {@link Matrix#get} of a matrix kept only as dot panels, and the pack round-trip test. */
    public float get(int j, int c) {
        int p = j / COLUMNS, i = j % COLUMNS, b = c / 32, kc = c % 32;
        long o = ((long) p * (k / 32) + b) * (dtype == DType.Q8_0 ? 544 : 288);
        float d = Float.float16ToFloat(data.get(I16, o + 2L * i));
        int q;
        if (dtype == DType.Q8_0) {
            q = (byte) (data.get(ValueLayout.JAVA_BYTE, o + 32 + 64L * (kc / 4) + 4L * i + kc % 4) ^ 0x80);
        } else {
            int low = kc % 16, v = data.get(ValueLayout.JAVA_BYTE, o + 32 + 64L * (low / 4) + 4L * i + low % 4) & 0xFF;
            q = (kc < 16 ? v & 0x0F : v >>> 4) - 8;
        }
        return q * d;
    }

    /** Q4_0 nibble (0..15) of k step c of column i in a {@link QuantPanels} block whose quants start at qs. */
    private static int nibble(MemorySegment data, long qs, int nr, int i, int c) {
        int v = data.get(ValueLayout.JAVA_BYTE, qs + (long) (c / 2) * nr + i) & 0xFF;
        return (c & 1) == 0 ? v & 0x0F : v >>> 4;
    }
}
