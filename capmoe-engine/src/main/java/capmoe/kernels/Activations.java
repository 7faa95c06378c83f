package capmoe.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Elementwise activations. */
public final class Activations {
    private Activations() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** gate[i] = silu(gate[i]) * up[i] for i < n: the SwiGLU product, in place in gate. */
    public static void siluMul(float[] gate, float[] up, int n) {
        int full = F.loopBound(n);
        for (int i = 0; i < full; i += F.length()) {
            FloatVector g = FloatVector.fromArray(F, gate, i);
            FloatVector sig = g.neg().lanewise(VectorOperators.EXP).add(1f);
            g.div(sig).mul(FloatVector.fromArray(F, up, i)).intoArray(gate, i);
        }
        for (int i = full; i < n; i++) gate[i] = silu(gate[i]) * up[i];
    }

    public static float silu(float x) {
        return x / (1f + (float) Math.exp(-x));
    }

    public static float sigmoid(float x) {
        return 1f / (1f + (float) Math.exp(-x));
    }
}
