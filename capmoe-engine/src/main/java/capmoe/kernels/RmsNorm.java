package capmoe.kernels;

import capmoe.routing.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** RMSNorm as HF computes it in fp32: x * rsqrt(mean(x^2) + eps), then * weight. */
public final class RmsNorm {
    private RmsNorm() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Normalises each of {@code rows} rows of width weight.length from x into out (may alias x). */
    public static void apply(float[] x, float[] weight, double eps, int rows, float[] out) {
        int n = weight.length;
        for (int r = 0; r < rows; r++) apply(x, r * n, weight, eps, out, r * n, n);
    }

    /** One row of width n starting at xOff, written at outOff. */
    public static void apply(float[] x, int xOff, float[] weight, double eps, float[] out, int outOff, int n) {
        int full = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < full; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, xOff + i);
            acc = v.fma(v, acc);
        }
        float ss = VectorMath.sum(acc);
        for (int i = full; i < n; i++) ss += x[xOff + i] * x[xOff + i];
        float inv = (float) (1.0 / Math.sqrt(ss / n + (float) eps));
        for (int i = 0; i < n; i++) out[outOff + i] = weight[i] * (x[xOff + i] * inv);
    }
}
