import capmoe.kernels.DotMode;
import capmoe.kernels.MachinePeak;
import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.weights.DType;
import capmoe.weights.Quantizer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.SplittableRandom;

/**
 * MatMul's panel kernel on one thread, as the grouped experts call it, timed in the calling
 * thread's CPU time (other load on a shared machine steals wall time, not CPU time), beside the
 * fp32 FMA peak timed the same way:
 * <ol>
 *   <li>E matrices [N x K] of random weights in each listed dtype (E x N x K x 2 bytes: pick E so
 *       that they do not fit in the caches to read the weights from memory, or E = 1 to keep them hot);</li>
 *   <li>per matrix, M rows of x through {@link MatMul#gemm} on column tiles of 64 (SwiGluExperts'
 *       TILE_COLUMNS), or, for decode's few rows (M below TILE_ROWS / 2), in one call over all N
 *       columns (as SwiGluExperts' per-expert decode phase and an LM head call it), matrix after
 *       matrix, for SECONDS per round; the first two rounds warm the JIT;</li>
 *   <li>prints per dtype the best timed round's GFLOP/s of CPU time and its fraction of the peak.</li>
 * </ol>
 *
 *   java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "capmoe-cli.jar:lib/*" \
 *        scripts/GemmBench.java E M K N DTYPE[,DTYPE..] SECONDS
 *   e.g. 64 32 2048 1024 BF16,F16,F32 1.5   (OLMoE-1B-7B's gate/up: 64 experts, 32 rows each)
 *        64 1 2048 1024 BF16,F16 1          (their decode: one row, weights from memory)
 *        1 1 2048 50304 BF16,F16 1          (the LM head's decode)
 *   DTYPE BF16_REDUCED: BF16 weights in --dot reduced (bf16 activations, the native vdpbf16ps kernel,
 *   capmoe.kernels.ReducedMatMul), against the same fp32 FMA peak (vdpbf16ps does twice its FLOPs per instruction).
 *   Q8_0, Q4_0 (and Q8_0_REDUCED, Q4_0_REDUCED: capmoe.kernels.QuantDot), decode rows only: random weights
 *   quantized to ggml's blocks, each matrix by one whole MatMul.matmul call as decode makes it (x rounded
 *   to Q8_0, then the kernel), e.g. 64 1 2048 1024 Q8_0,Q8_0_REDUCED 1.
 */
public final class GemmBench {
    private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

    public static void main(String[] a) {
        if (a.length != 6) {
            System.err.println("usage: GemmBench E M K N DTYPE[,DTYPE..] SECONDS");
            System.exit(2);
        }
        int e = Integer.parseInt(a[0]), m = Integer.parseInt(a[1]), k = Integer.parseInt(a[2]), n = Integer.parseInt(a[3]);
        double seconds = Double.parseDouble(a[5]);
        int xs = MatMul.stride(k), tile = m < MatMul.TILE_ROWS / 2 ? n : 64;
        SplittableRandom rnd = new SplittableRandom(1);
        float[] x = new float[e * m * xs];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        float[] y = new float[m * tile];
        try (Parallel one = new Parallel(1)) {
            double peak = 0;
            for (int r = 0; r < 3; r++) {
                long c0 = CPU.getCurrentThreadCpuTime(), t0 = System.nanoTime();
                double flops = MachinePeak.fmaFlops(one, 200_000_000L, 1);
                double wall = (System.nanoTime() - t0) / 1e9, cpu = (CPU.getCurrentThreadCpuTime() - c0) / 1e9;
                if (r > 0) peak = Math.max(peak, flops * wall / cpu);
            }
            System.out.printf("fp32 FMA peak, 1 thread: %.1f GFLOP/s of CPU time%n", peak / 1e9);
            System.out.println("dtype         experts  rows      k      n    GFLOP/s  of peak");
            for (String name : a[4].split(",")) {
                boolean reduced = name.endsWith("_REDUCED");
                DType d = DType.valueOf(reduced ? name.substring(0, name.length() - "_REDUCED".length()) : name);
                if (d.quantized() && m >= MatMul.TILE_ROWS / 2) {
                    System.err.println("GemmBench: " + d + " is timed for decode rows only (M < " + MatMul.TILE_ROWS / 2 + ")");
                    System.exit(2);
                }
                Arena arena = Arena.ofAuto();
                Matrix[] p = new Matrix[e];
                for (int i = 0; i < e; i++) {
                    if (d.quantized()) {                         // ggml blocks of random weights, multiplied as decode does
                        float[] v = new float[n * k];
                        for (int j = 0; j < v.length; j++) v[j] = (float) rnd.nextDouble(-1, 1);
                        MemorySegment q = arena.allocate(d.bytes((long) n * k), 64);
                        Quantizer.quantize(d, v, 0, v.length, q, 0);
                        p[i] = new Matrix("w" + i, d, n, k, q, reduced ? DotMode.REDUCED : DotMode.EXACT);
                        if (reduced) p[i].quantDotPanels(); else p[i].quantPanels();
                        continue;
                    }
                    MemorySegment w = arena.allocate((long) n * k * d.size(), 64);
                    for (long j = 0; j < (long) n * k; j++) {
                        float v = (float) rnd.nextDouble(-1, 1);
                        switch (d) {
                            case F32 -> w.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, j, v);
                            case F16 -> w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, j, Float.floatToFloat16(v));
                            case BF16 -> w.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, j, (short) (Float.floatToRawIntBits(v) >>> 16));
                            default -> throw new IllegalArgumentException(d + " has no panel kernel (BF16, F16, F32)");
                        }
                    }
                    p[i] = new Matrix("w" + i, d, n, k, w, reduced ? DotMode.REDUCED : DotMode.EXACT);
                    if (reduced) p[i].pairPanels(); else p[i].panels();
                }
                double best = 0;
                for (int round = 0; round < 5; round++) {
                    long c0 = CPU.getCurrentThreadCpuTime(), t0 = System.nanoTime(), flops = 0;
                    while (System.nanoTime() - t0 < seconds * 1e9) {
                        for (int i = 0; i < e; i++) {
                            if (d.quantized()) {                 // the whole decode call: x rounded to Q8_0, then the kernel
                                Matrix w = p[i];
                                one.run(() -> MatMul.matmul(x, m, w, y));   // a team of one: the calling thread's CPU time is the call's
                                flops += 2L * m * k * n;
                                continue;
                            }
                            for (int j0 = 0; j0 < n; j0 += tile) {
                                int j1 = Math.min(n, j0 + tile);
                                MatMul.gemm(x, i * m * xs, xs, m, p[i], j0, j1, y, 0, tile);
                                flops += 2L * m * k * (j1 - j0);
                            }
                        }
                    }
                    if (round >= 2) best = Math.max(best, flops / ((CPU.getCurrentThreadCpuTime() - c0) / 1e9));
                }
                System.out.printf("%-12s  %7d  %4d  %5d  %5d  %9.1f  %6.1f%%%n", name, e, m, k, n, best / 1e9, 100 * best / peak);
            }
        }
    }
}
