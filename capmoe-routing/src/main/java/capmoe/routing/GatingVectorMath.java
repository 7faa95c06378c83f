package capmoe.routing;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD softmax and sigmoid rows (jdk.incubator.vector). exp is the bulk of a routing call
 * (E of them per token); {@link VectorMath#exp} is within 2 ulp in float, like torch's, and
 * rounds the same in every JIT tier, as does {@link VectorMath#sum}.
 * Only loaded when the module is present (see {@link Gate}).
 */
final class GatingVectorMath {
    private GatingVectorMath() { }

    private static final VectorSpecies<Float> S = VectorMath.species();

    /**
     * Softmax of row [row, row+n) of logits into out. {@code lanes}: scratch of one vector's lanes
     * for the sum ({@link VectorMath#sum(float[], int)}, so that no vector is boxed where C2 does
     * not inline the sum: olmoe-tiny's decode step boxed 1,152 bytes here).
     */
    static void softmaxRow(float[] logits, float[] out, int row, int n, float[] lanes) {
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
                FloatVector v = FloatVector.fromArray(S, logits, row + e).sub(max);
                v = VectorMath.exp(v);
                v.intoArray(out, row + e);
                acc = acc.add(v);
            }
            acc.intoArray(lanes, 0);
            sum = VectorMath.sum(lanes, 0);
        }
        for (; e < n; e++) {
            float v = VectorMath.exp(logits[row + e] - max);
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
            FloatVector.broadcast(S, 1f).div(VectorMath.exp(x.neg()).add(1f)).intoArray(out, i);
        }
        for (; i < n; i++) out[i] = 1f / (1f + VectorMath.exp(-logits[i]));
    }

    /**
     * Top-k by repeated vector argmax on a copy: k passes of E/lanes max operations, no data-
     * dependent branches per element (the scalar insertion mispredicts on every new candidate).
     * Best first; ties go to the lower index (the first lane that equals the max). {@code tmp}
     * needs n + 64 floats. Returns false, leaving the work to the scalar path, if a pass finds
     * only -Infinity (never for gate scores, which are finite).
     */
    static boolean topK(float[] v, int from, int n, int k, int[] out, int outFrom, float[] tmp) {
        int lanes = S.length();
        int padded = (n + lanes - 1) / lanes * lanes;
        System.arraycopy(v, from, tmp, 0, n);
        for (int e = n; e < padded; e++) tmp[e] = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < k; j++) {
            FloatVector m = FloatVector.fromArray(S, tmp, 0);
            for (int e = lanes; e < padded; e += lanes) m = m.max(FloatVector.fromArray(S, tmp, e));
            float max = m.reduceLanes(VectorOperators.MAX);
            if (max == Float.NEGATIVE_INFINITY) return false;
            int idx = 0;
            for (int e = 0; e < padded; e += lanes) {
                VectorMask<Float> eq = FloatVector.fromArray(S, tmp, e).eq(max);
                if (eq.anyTrue()) {
                    idx = e + eq.firstTrue();
                    break;
                }
            }
            out[outFrom + j] = idx;
            tmp[idx] = Float.NEGATIVE_INFINITY;
        }
        return true;
    }
}
