package capmoe.kernels;

import capmoe.routing.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Elementwise activations; exp is {@link VectorMath#exp}, so a lane and a tail element round alike in every JIT tier. */
public final class Activations {
    private Activations() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** gate[i] = silu(gate[i]) * up[i] for i < n: the SwiGLU product, in place in gate. */
    public static void siluMul(float[] gate, float[] up, int n) {
        int full = F.loopBound(n);
        for (int i = 0; i < full; i += F.length()) {
            FloatVector g = FloatVector.fromArray(F, gate, i);
            FloatVector sig = VectorMath.exp(g.neg()).add(1f);
            g.div(sig).mul(FloatVector.fromArray(F, up, i)).intoArray(gate, i);
        }
        for (int i = full; i < n; i++) gate[i] = silu(gate[i]) * up[i];
    }

    public static float silu(float x) {
        return x / (1f + VectorMath.exp(-x));
    }

    public static float sigmoid(float x) {
        return 1f / (1f + VectorMath.exp(-x));
    }
}
