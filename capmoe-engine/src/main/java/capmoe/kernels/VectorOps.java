package capmoe.kernels;

import capmoe.routing.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Small vector primitives over float arrays (attention's q.k and p*v). */
public final class VectorOps {
    private VectorOps() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** sum a[ao+i] * b[bo+i] for i < n. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int full = F.loopBound(n);
        FloatVector acc = FloatVector.zero(F);
        for (int i = 0; i < full; i += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        }
        float s = VectorMath.sum(acc);
        for (int i = full; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** y[yo+i] += alpha * x[xo+i] for i < n. */
    public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int full = F.loopBound(n);
        FloatVector al = FloatVector.broadcast(F, alpha);
        for (int i = 0; i < full; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i).fma(al, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
        }
        for (int i = full; i < n; i++) y[yo + i] += alpha * x[xo + i];
    }
}
