package capmoe.routing;

/**
 * The arithmetic of the {@link Gating} front-ends (one name, Gating, for the idea: {@code Gating}
 * says which front-end, {@code GatingMath} computes it, {@link GatingVectorMath} is its SIMD
 * path), in float32 like HF (scores) and with a deterministic top-k
 * (ties: lower index first). Rows are tokens, columns experts, row-major.
 */
final class GatingMath {
    private GatingMath() { }

    /** SIMD when jdk.incubator.vector is in the boot layer (capmoe always adds it); plain loops otherwise. */
    static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && !Boolean.getBoolean("capmoe.routing.scalar");

    /**
     * Per thread: {@link GgmlMath#softmax}'s 16 lanes, or {@link GatingVectorMath#softmaxRow}'s one
     * vector (at most 64 floats, 2048 bits) for its lane sum (a decode step allocates nothing here).
     */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[64]);

    /** Gate scores from router logits: softmax for the softmax families, sigmoid for DeepSeek-V3. */
    static void scores(Gating gating, float[] logits, int tokens, int experts, float[] out) {
        if (gating instanceof Gating.SigmoidGroupLimited) {
            if (VECTOR) GatingVectorMath.sigmoid(logits, out, tokens * experts);
            else sigmoidScalar(logits, out, tokens * experts);
        } else {
            softmaxRows(gating instanceof Gating.Softmax s && s.ggml(), logits, 0, tokens, experts, out);
        }
    }

    /**
     * {@link #scores} for tokens [t0, t1) only, softmax gating ({@link Gating.Softmax}): each row's
     * scores exactly as the whole call's (a row depends on its own logits alone).
     */
    static void scores(Gating gating, float[] logits, int t0, int t1, int experts, float[] out) {
        if (!(gating instanceof Gating.Softmax s)) throw new IllegalArgumentException("token ranges need softmax gating, got " + gating);
        softmaxRows(s.ggml(), logits, t0, t1, experts, out);
    }

    /** Softmax of rows [t0, t1) of {@code experts} logits each: llama.cpp's ({@code ggml}) or capmoe's. */
    private static void softmaxRows(boolean ggml, float[] logits, int t0, int t1, int experts, float[] out) {
        if (ggml) {
            float[] lanes = LANES.get();
            System.arraycopy(logits, t0 * experts, out, t0 * experts, (t1 - t0) * experts);
            for (int t = t0; t < t1; t++) GgmlMath.softmax(out, t * experts, experts, experts, 1f, lanes);
        } else if (VECTOR) {
            float[] lanes = LANES.get();
            for (int t = t0; t < t1; t++) GatingVectorMath.softmaxRow(logits, out, t * experts, experts, lanes);
        } else {
            for (int t = t0; t < t1; t++) softmaxRowScalar(logits, out, t * experts, experts);
        }
    }

    static void softmaxRowScalar(float[] logits, float[] out, int row, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < n; e++) max = Math.max(max, logits[row + e]);
        float sum = 0f;
        for (int e = 0; e < n; e++) {
            float v = (float) Math.exp(logits[row + e] - max);
            out[row + e] = v;
            sum += v;
        }
        for (int e = 0; e < n; e++) out[row + e] /= sum;
    }

    static void sigmoidScalar(float[] logits, float[] out, int n) {
        for (int i = 0; i < n; i++) out[i] = (float) (1.0 / (1.0 + Math.exp(-logits[i])));
    }

    /**
     * Top-k choice per token into {@code topIdx[t*k .. t*k+k-1]}, best first. Scratch: {@code sel}
     * E floats, {@code groupScore} / {@code groupIdx} n_group, {@code kth} max(k, n_group),
     * {@code wide} E + 64.
     */
    static void select(Gating gating, float[] scores, int tokens, int experts, int k, int[] topIdx,
                       float[] sel, float[] groupScore, int[] groupIdx, float[] kth, float[] wide) {
        // one type test per call, not per token: the per-token loops stay small and hot
        switch (gating) {
            case Gating.Softmax s -> {
                for (int t = 0; t < tokens; t++) topKRow(scores, t * experts, experts, k, topIdx, t * k, kth, wide);
            }
            case Gating.SoftmaxGroupLimited g -> selectV2(g, scores, tokens, experts, k, topIdx, sel, groupScore, groupIdx, kth, wide);
            case Gating.SigmoidGroupLimited g -> selectV3(g, scores, tokens, experts, k, topIdx, sel, groupScore, groupIdx, kth, wide);
        }
    }

    /** DeepSeek-V2: group score = max softmax score in the group. */
    private static void selectV2(Gating.SoftmaxGroupLimited g, float[] scores, int tokens, int experts, int k, int[] topIdx,
                                 float[] sel, float[] groupScore, int[] groupIdx, float[] kth, float[] wide) {
        int size = experts / g.nGroup();
        for (int t = 0; t < tokens; t++) {
            int row = t * experts;
            for (int gi = 0; gi < g.nGroup(); gi++) {
                float m = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < size; j++) m = Math.max(m, scores[row + gi * size + j]);
                groupScore[gi] = m;
            }
            maskGroups(scores, row, experts, g.nGroup(), g.topkGroup(), groupScore, groupIdx, sel, kth);
            topKRow(sel, 0, experts, k, topIdx, t * k, kth, wide);
        }
    }

    /** DeepSeek-V3: choice on score + bias; group score = sum of its top-2 biased scores. */
    private static void selectV3(Gating.SigmoidGroupLimited g, float[] scores, int tokens, int experts, int k, int[] topIdx,
                                 float[] sel, float[] groupScore, int[] groupIdx, float[] kth, float[] wide) {
        float[] bias = g.eScoreCorrectionBias(); // a copy, once per call
        int size = experts / g.nGroup();
        for (int t = 0; t < tokens; t++) {
            int row = t * experts;
            for (int e = 0; e < experts; e++) sel[e] = scores[row + e] + bias[e];
            if (g.nGroup() > 1) {
                for (int gi = 0; gi < g.nGroup(); gi++) {
                    float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < size; j++) {
                        float v = sel[gi * size + j];
                        if (v > a) { b = a; a = v; } else if (v > b) b = v;
                    }
                    groupScore[gi] = a + b;
                }
                maskGroups(sel, 0, experts, g.nGroup(), g.topkGroup(), groupScore, groupIdx, sel, kth);
            }
            topKRow(sel, 0, experts, k, topIdx, t * k, kth, wide);
        }
    }

    /**
     * Writes {@code src[row..row+E)} into {@code dst[0..E)} with the experts of all but the
     * topk_group best groups replaced by 0.0 (HF's masked_fill value, which matters when biased
     * scores are negative). {@code src} and {@code dst} may be the same array when row == 0.
     */
    private static void maskGroups(float[] src, int row, int experts, int nGroup, int topkGroup,
                                   float[] groupScore, int[] groupIdx, float[] dst, float[] kth) {
        topK(groupScore, 0, nGroup, topkGroup, groupIdx, 0, kth);
        int size = experts / nGroup;
        for (int gi = 0; gi < nGroup; gi++) {
            boolean kept = false;
            for (int j = 0; j < topkGroup; j++) kept |= groupIdx[j] == gi;
            for (int j = 0; j < size; j++) {
                int e = gi * size + j;
                dst[e] = kept ? src[row + e] : 0f;
            }
        }
    }

    /** {@link #topK} for a token's row of E scores: SIMD for small k, when available. */
    static void topKRow(float[] v, int from, int n, int k, int[] out, int outFrom, float[] kth, float[] wide) {
        if (VECTOR && k <= 16 && n >= 16 && GatingVectorMath.topK(v, from, n, k, out, outFrom, wide)) return;
        topK(v, from, n, k, out, outFrom, kth);
    }

    /**
     * Indices of the k largest of {@code v[from .. from+n)} (relative), best first; ties: lower
     * index first. {@code vals} is scratch of at least k floats.
     */
    static void topK(float[] v, int from, int n, int k, int[] out, int outFrom, float[] vals) {
        int filled = 0;
        float kth = Float.NEGATIVE_INFINITY; // the k-th best so far, in a register: most values stop here
        for (int i = 0; i < n; i++) {
            float x = v[from + i];
            if (filled == k && !(x > kth)) continue;
            int pos = filled < k ? filled++ : k - 1;
            // shift smaller entries down; strict '>' keeps the earlier index ahead on ties
            while (pos > 0 && x > vals[pos - 1]) {
                vals[pos] = vals[pos - 1];
                out[outFrom + pos] = out[outFrom + pos - 1];
                pos--;
            }
            vals[pos] = x;
            out[outFrom + pos] = i;
            if (filled == k) kth = vals[k - 1];
        }
    }
}
