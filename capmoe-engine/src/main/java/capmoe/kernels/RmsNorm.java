package capmoe.kernels;

import capmoe.routing.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * RMSNorm: x * rsqrt(mean(x^2) + eps), then * weight. {@link DotMode#EXACT} as HF computes it in fp32
 * (a vector fma sum of squares); {@link DotMode#REDUCED} as llama.cpp's CPU backend does
 * ({@link GgmlOps#rmsNorm}: squares summed in double, 1.0f/sqrtf).
 */
public final class RmsNorm {
    private RmsNorm() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Per thread: one vector's lanes [L floats], for the sum of squares. */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[F.length()]);

    /** Below this many elements a call runs on the calling thread (a phase would cost more than it saves). */
    private static final int PARALLEL_ABOVE = 1 << 15;

    /** Normalises each of {@code rows} rows of width weight.length from x into out (may alias x); parallel over rows. */
    public static void apply(float[] x, float[] weight, double eps, int rows, float[] out) {
        apply(x, weight, eps, rows, out, DotMode.EXACT);
    }

    /** As {@link #apply(float[], float[], double, int, float[])}, in the arithmetic of {@code dot}. */
    public static void apply(float[] x, float[] weight, double eps, int rows, float[] out, DotMode dot) {
        int n = weight.length;
        if ((long) rows * n < PARALLEL_ABOVE) {
            for (int r = 0; r < rows; r++) apply(x, r * n, weight, eps, out, r * n, n, dot);
            return;
        }
        Parallel.current().forRange(rows, 1, (r0, r1) -> {
            for (int r = r0; r < r1; r++) apply(x, r * n, weight, eps, out, r * n, n, dot);
        });
    }

    /**
     * The residual add and the RMSNorm after it, in one pass over each row: {@code x += delta},
     * then out = RMSNorm(x) (out may alias x). Per element the same operations as the add
     * followed by {@link #apply}, so the same bits; parallel over rows.
     */
    public static void addApply(float[] x, float[] delta, float[] weight, double eps, int rows, float[] out) {
        addApply(x, delta, weight, eps, rows, out, DotMode.EXACT);
    }

    /** As {@link #addApply(float[], float[], float[], double, int, float[])}, in the arithmetic of {@code dot}. */
    public static void addApply(float[] x, float[] delta, float[] weight, double eps, int rows, float[] out, DotMode dot) {
        int n = weight.length;
        if ((long) rows * n < PARALLEL_ABOVE) {
            addApply(x, delta, weight, eps, out, 0, rows, n, dot);
            return;
        }
        Parallel.current().forRange(rows, 1, (r0, r1) -> addApply(x, delta, weight, eps, out, r0, r1, n, dot));
    }

    private static void addApply(float[] x, float[] delta, float[] weight, double eps, float[] out, int r0, int r1, int n, DotMode dot) {
        for (int r = r0; r < r1; r++) {
            int o = r * n, full = F.loopBound(n);
            for (int i = 0; i < full; i += F.length()) {
                FloatVector.fromArray(F, x, o + i).add(FloatVector.fromArray(F, delta, o + i)).intoArray(x, o + i);
            }
            for (int i = full; i < n; i++) x[o + i] += delta[o + i];
            apply(x, o, weight, eps, out, o, n, dot);
        }
    }

    /** One row of width n starting at xOff, written at outOff, in the arithmetic of {@code dot}. */
    public static void apply(float[] x, int xOff, float[] weight, double eps, float[] out, int outOff, int n, DotMode dot) {
        if (dot == DotMode.REDUCED) GgmlOps.rmsNorm(x, xOff, weight, (float) eps, out, outOff, n);
        else apply(x, xOff, weight, eps, out, outOff, n);
    }

    /** One row of width n starting at xOff, written at outOff (HF's arithmetic). */
    public static void apply(float[] x, int xOff, float[] weight, double eps, float[] out, int outOff, int n) {
        int full = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < full; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, xOff + i);
            acc = v.fma(v, acc);
        }
        float[] lanes = LANES.get();
        acc.intoArray(lanes, 0);
        float ss = VectorMath.sum(lanes, 0);    // not sum(acc): C2 did not always inline it here, and boxed acc (olmoe-tiny: 480 bytes a decode step)
        for (int i = full; i < n; i++) ss += x[xOff + i] * x[xOff + i];
        float inv = (float) (1.0 / Math.sqrt(ss / n + (float) eps));
        for (int i = 0; i < n; i++) out[outOff + i] = weight[i] * (x[xOff + i] * inv);
    }
}
