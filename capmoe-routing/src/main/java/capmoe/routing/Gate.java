package capmoe.routing;

/**
 * The gating front-ends' arithmetic, in float32 like HF (scores) and with a deterministic top-k
 * (ties: lower index first). Rows are tokens, columns experts, row-major.
 */
final class Gate {
    private Gate() { }

    /** Gate scores from router logits: softmax for the softmax families, sigmoid for DeepSeek-V3. */
    static void scores(Gating gating, float[] logits, int tokens, int experts, float[] out) {
        if (gating instanceof Gating.SigmoidGroupLimited) {
            for (int i = 0, n = tokens * experts; i < n; i++) out[i] = (float) (1.0 / (1.0 + Math.exp(-logits[i])));
            return;
        }
        for (int t = 0; t < tokens; t++) {
            int row = t * experts;
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < experts; e++) max = Math.max(max, logits[row + e]);
            float sum = 0f;
            for (int e = 0; e < experts; e++) {
                float v = (float) Math.exp(logits[row + e] - max);
                out[row + e] = v;
                sum += v;
            }
            for (int e = 0; e < experts; e++) out[row + e] /= sum;
        }
    }

    /**
     * Top-k choice per token into {@code topIdx[t*k .. t*k+k-1]}, best first. {@code sel} is a
     * scratch row of E floats and {@code groupScore} one of n_group floats.
     */
    static void select(Gating gating, float[] scores, int tokens, int experts, int k, int[] topIdx,
                       float[] sel, float[] groupScore, int[] groupIdx) {
        float[] bias = gating instanceof Gating.SigmoidGroupLimited g ? g.eScoreCorrectionBias() : null; // a copy, once per call
        for (int t = 0; t < tokens; t++) {
            int row = t * experts;
            switch (gating) {
                case Gating.Softmax s -> topK(scores, row, experts, k, topIdx, t * k);
                case Gating.SoftmaxGroupLimited g -> {
                    // DeepSeek-V2: group score = max softmax score in the group.
                    int size = experts / g.nGroup();
                    for (int gi = 0; gi < g.nGroup(); gi++) {
                        float m = Float.NEGATIVE_INFINITY;
                        for (int j = 0; j < size; j++) m = Math.max(m, scores[row + gi * size + j]);
                        groupScore[gi] = m;
                    }
                    maskGroups(scores, row, experts, g.nGroup(), g.topkGroup(), groupScore, groupIdx, sel);
                    topK(sel, 0, experts, k, topIdx, t * k);
                }
                case Gating.SigmoidGroupLimited g -> {
                    // DeepSeek-V3: choice on score + bias; group score = sum of its top-2 biased scores.
                    for (int e = 0; e < experts; e++) sel[e] = scores[row + e] + bias[e];
                    int size = experts / g.nGroup();
                    if (g.nGroup() > 1) {
                        for (int gi = 0; gi < g.nGroup(); gi++) {
                            float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
                            for (int j = 0; j < size; j++) {
                                float v = sel[gi * size + j];
                                if (v > a) { b = a; a = v; } else if (v > b) b = v;
                            }
                            groupScore[gi] = a + b;
                        }
                        maskGroups(sel, 0, experts, g.nGroup(), g.topkGroup(), groupScore, groupIdx, sel);
                    }
                    topK(sel, 0, experts, k, topIdx, t * k);
                }
            }
        }
    }

    /**
     * Writes {@code src[row..row+E)} into {@code dst[0..E)} with the experts of all but the
     * topk_group best groups replaced by 0.0 (HF's masked_fill value, which matters when biased
     * scores are negative). {@code src} and {@code dst} may be the same array when row == 0.
     */
    private static void maskGroups(float[] src, int row, int experts, int nGroup, int topkGroup,
                                   float[] groupScore, int[] groupIdx, float[] dst) {
        topK(groupScore, 0, nGroup, topkGroup, groupIdx, 0);
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

    /** Indices of the k largest of {@code v[from .. from+n)} (relative), best first; ties: lower index first. */
    static void topK(float[] v, int from, int n, int k, int[] out, int outFrom) {
        int filled = 0;
        for (int i = 0; i < n; i++) {
            float x = v[from + i];
            if (filled == k && !(x > v[from + out[outFrom + k - 1]])) continue;
            int pos = filled < k ? filled++ : k - 1;
            // shift smaller entries down; strict '>' keeps the earlier index ahead on ties
            while (pos > 0 && x > v[from + out[outFrom + pos - 1]]) {
                out[outFrom + pos] = out[outFrom + pos - 1];
                pos--;
            }
            out[outFrom + pos] = i;
        }
    }
}
