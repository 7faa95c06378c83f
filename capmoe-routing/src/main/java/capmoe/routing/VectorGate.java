package capmoe.routing;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD softmax and sigmoid rows (jdk.incubator.vector). exp is the bulk of a routing call
 * (E of them per token); the vector EXP is accurate to ~1 ulp in float, like torch's.
 * Only loaded when the module is present (see {@link Gate}).
 */
final class VectorGate {
    private VectorGate() { }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    static void softmaxRow(float[] logits, float[] out, int row, int n) {
        int bound = S.loopBound(n), e = 0;
        float max = Float.NEGATIVE_INFINITY;
        if (bound > 0) {
            FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (; e < bound; e += S.length()) m = m.max(FloatVector.fromArray(S, logits, row + e));
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; e < n; e++) max = Math.max(max, logits[row + e]);

        float sum = 0f;
        e = 0;
        if (bound > 0) {
            FloatVector acc = FloatVector.zero(S);
            for (; e < bound; e += S.length()) {
                FloatVector v = FloatVector.fromArray(S, logits, row + e).sub(max).lanewise(VectorOperators.EXP);
                v.intoArray(out, row + e);
                acc = acc.add(v);
            }
            sum = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; e < n; e++) {
            float v = (float) Math.exp(logits[row + e] - max);
            out[row + e] = v;
            sum += v;
        }
        e = 0;
        for (; e < bound; e += S.length()) FloatVector.fromArray(S, out, row + e).div(sum).intoArray(out, row + e);
        for (; e < n; e++) out[row + e] /= sum;
    }

    static void sigmoid(float[] logits, float[] out, int n) {
        int bound = S.loopBound(n), i = 0;
        for (; i < bound; i += S.length()) {
            FloatVector x = FloatVector.fromArray(S, logits, i);
            FloatVector.broadcast(S, 1f).div(x.neg().lanewise(VectorOperators.EXP).add(1f)).intoArray(out, i);
        }
        for (; i < n; i++) out[i] = (float) (1.0 / (1.0 + Math.exp(-logits[i])));
    }
}
