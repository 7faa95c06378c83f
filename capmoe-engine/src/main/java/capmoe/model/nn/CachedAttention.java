package capmoe.model.nn;

import capmoe.kernels.VectorOps;

/**
 * One query row attending to a sequence's cached keys and values: softmax(q·k·scale) · v over the
 * positions 0..len-1. Shared by multi-head (GQA) and latent (MLA) attention, which differ only in
 * where a head's key and value live in the cache rows (offset and stride) and in their widths.
 */
public final class CachedAttention {
    private CachedAttention() { }

    /**
     * att[ao..ao+dv) = sum_j softmax_j(q[qo..qo+dk) · k_j * scale) * v_j, with k_j at
     * kc[j*kStride + ko] and v_j at vc[j*vStride + vo]; {@code scores} holds at least len floats.
     */
    public static void head(float[] q, int qo, float[] kc, int ko, int kStride, int dk,
                            float[] vc, int vo, int vStride, int dv, int len, float scale,
                            float[] scores, float[] att, int ao) {
        head(q, qo, kc, ko, kStride, dk, vc, vo, vStride, dv, len, scale, scores, 0, att, ao);
    }

    /** As above, with the scores at {@code scores[so .. so+len)} (a row of a shared scores buffer). */
    public static void head(float[] q, int qo, float[] kc, int ko, int kStride, int dk,
                            float[] vc, int vo, int vStride, int dv, int len, float scale,
                            float[] scores, int so, float[] att, int ao) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < len; j++) {
            float s = VectorOps.dot(q, qo, kc, j * kStride + ko, dk) * scale;
            scores[so + j] = s;
            max = Math.max(max, s);
        }
        float sum = 0;
        for (int j = 0; j < len; j++) {
            float e = (float) Math.exp(scores[so + j] - max);
            scores[so + j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int j = 0; j < len; j++) VectorOps.axpy(scores[so + j] * inv, vc, j * vStride + vo, att, ao, dv);
    }

    /** The longest cached length any row of the batch attends over (the scores buffer size). */
    public static int maxLength(Batch batch) {
        int m = 0;
        for (int p : batch.position()) m = Math.max(m, p + 1);
        return m;
    }
}
