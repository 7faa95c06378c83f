import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.kernels.QuantMatMul;
import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import java.lang.foreign.*;
import java.lang.management.ManagementFactory;
import java.util.Random;

/**
 * QuantMatMul's decode path (one row of x) on one thread, Q8_0 then Q4_0, timed in the calling
 * thread's CPU time (other load on a shared machine steals wall time, not CPU time):
 * <ol>
 *   <li>one [N x K] matrix of Gaussian weights (seed 1) quantized to each format, and one row x;</li>
 *   <li>per format, ROUNDS rounds of CALLS {@code QuantMatMul.matmul(x, 1, w, null, y)} inside a
 *       {@code new Parallel(1)}; the first round warms the JIT and is not counted;</li>
 *   <li>prints the best round's GFLOP/s (2·N·K per call) and a hash of y's bits, so that two builds
 *       run in turn (an A/B of kernels) show both their speed and that their outputs are the same bits.</li>
 * </ol>
 *
 *   java --add-modules jdk.incubator.vector -cp capmoe-engine/target/classes scripts/QuantDecodeBench.java N K CALLS ROUNDS
 *   e.g. 1024 2048 200 6
 */
public final class QuantDecodeBench {
    public static void main(String[] a) {
        if (a.length != 4) {
            System.err.println("usage: QuantDecodeBench N K CALLS ROUNDS");
            System.exit(2);
        }
        int n = Integer.parseInt(a[0]), k = Integer.parseInt(a[1]), reps = Integer.parseInt(a[2]), rounds = Integer.parseInt(a[3]);
        Random rnd = new Random(1);
        float[] w = new float[n * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        float[] x = new float[k];
        for (int i = 0; i < k; i++) x[i] = (float) rnd.nextGaussian();
        var mx = ManagementFactory.getThreadMXBean();
        Parallel one = new Parallel(1);
        for (DType f : new DType[] {DType.Q8_0, DType.Q4_0}) {
            MemorySegment seg = Arena.ofAuto().allocate(f.bytes((long) n * k));
            Quantizer.quantize(f, w, 0, n * k, seg, 0);
            Matrix m = new Matrix("w", f, n, k, seg);
            float[] y = new float[n];
            double[] best = {Double.MAX_VALUE};
            one.run(() -> {
                for (int r = 0; r < rounds; r++) {
                    long t0 = mx.getCurrentThreadCpuTime();
                    for (int i = 0; i < reps; i++) QuantMatMul.matmul(x, 1, m, null, y);
                    double t = (mx.getCurrentThreadCpuTime() - t0) / 1e9 / reps;
                    if (r > 0) best[0] = Math.min(best[0], t);
                }
            });
            long h = 0;
            for (float v : y) h = h * 31 + Float.floatToRawIntBits(v);
            System.out.printf("%s %dx%d 1 row: %.2f GFLOP/s (best of %d rounds x %d calls, thread CPU time); y bits hash %016x%n", f, n, k, 2.0 * n * k / best[0] / 1e9, rounds - 1, reps, h);
        }
        one.close();
    }
}
