package capmoe.kernels;

import capmoe.weights.DType;

import java.lang.foreign.MemorySegment;

/**
 * A BF16 weight matrix W [N x K] repacked for {@link ReducedMatMul}'s vdpbf16ps kernels ("pair
 * panels"): the columns of y = x W^T cut into panels of {@link #NR} = 16 (one zmm of fp32
 * accumulators), K padded with zeros to a multiple of 64 ({@link #kp}); panel p stores, for each k
 * pair t, 16 little-endian ints, int i = W[16p+i, 2t] | W[16p+i, 2t+1] << 16: one operand of
 * vdpbf16ps, which multiplies it by a broadcast pair of x. The pairs are not in k order: each lane
 * of llama.cpp's two BF16 kernels reads its own run of them (every 16th or 32nd pair), so they lie
 * lane by lane. Columns past N are zero.
 * The layout and the kernel are described once, in {@code capmoe-engine/src/main/c/bf16_dot.c}.
 * Built once per matrix in {@link WeightMemory} (2 MB pages where Linux lends them; freed with the
 * matrix), packed by the native {@code capmoe_bf16_pack} over all cores.
 *
 * @param n    output columns (W's rows)
 * @param k    inner dimension (W's columns)
 * @param data the panels, panel p at element {@code p * panelElements()}
 */
public record PairPanels(int n, int k, MemorySegment data) {

    /** Output columns per panel. */
    public static final int NR = 16;

    /** K rounded up to 64 (zeros past K). */
    public int kp() {
        return (k + 63) & ~63;
    }

    /** Elements (bf16) of one panel: 16 columns x {@link #kp} (bf16_dot.c's capmoe_bf16_panel_elements). */
    public long panelElements() {
        return (long) NR * kp();
    }

    /** Number of panels: ceil(n / NR). */
    public int panels() {
        return (n + NR - 1) / NR;
    }

    /** W (BF16, row-major) repacked into pair panels. */
    public static PairPanels pack(Matrix w) {
        if (w.dtype() != DType.BF16) throw new IllegalArgumentException("matrix " + w.name() + ": pair panels hold BF16, not " + w.dtype());
        NativeKernels.require("--dot reduced (matrix " + w.name() + ")");
        int n = w.rows(), k = w.cols(), count = (n + NR - 1) / NR;
        MemorySegment out = WeightMemory.allocate(count * (long) NR * ((k + 63) & ~63) * 2);
        MemorySegment src = w.data();
        Parallel.defaults().forRange(count, 1, (p0, p1) -> ReducedMatMul.pack(src, n, k, p0, p1, out));
        return new PairPanels(n, k, out);
    }
}
