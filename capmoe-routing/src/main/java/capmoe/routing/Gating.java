package capmoe.routing;

import java.util.Arrays;

/**
 * How router logits become gate scores and a top-k choice, per model family (HF transformers 5
 * semantics). The capacity policies then rank (token, expert) pairs by the resulting gate score
 * (for DeepSeek-V3 the unbiased sigmoid score; the bias only steers the choice).
 * The arithmetic lives in {@link Gate}.
 */
public sealed interface Gating permits Gating.Softmax, Gating.SoftmaxGroupLimited, Gating.SigmoidGroupLimited {

    /**
     * softmax over all experts, top-k (OLMoE, Mixtral, Qwen2/3-MoE, DeepSeek-V2 {@code topk_method=greedy}).
     * Mixtral always renormalises: use {@code normTopkProb=true} for it.
     *
     * @param ggml the softmax in llama.cpp's CPU arithmetic ({@link GgmlMath#softmax}: ggml's expf,
     *             a double sum of 16-lane partial sums, times 1/sum), as {@code --dot reduced} wants it;
     *             false: HF's float32 softmax (exp within 2 ulp, divided by the sum)
     */
    record Softmax(boolean ggml) implements Gating {
        /** HF's arithmetic. */
        public Softmax() { this(false); }
    }

    /**
     * DeepSeek-V2 {@code group_limited_greedy}: softmax scores; group score = the max score in the
     * group; keep the {@code topk_group} best groups; top-k over the rest (others masked to 0.0).
     * Note HF's DeepSeek-V2 never renormalises (it ignores {@code norm_topk_prob}): use
     * {@code normTopkProb=false} for it.
     */
    record SoftmaxGroupLimited(int nGroup, int topkGroup) implements Gating {
        public SoftmaxGroupLimited { checkGroups(nGroup, topkGroup); }
    }

    /**
     * DeepSeek-V3 ({@code noaux_tc}): sigmoid scores; selection uses score + {@code e_score_correction_bias},
     * groups ranked by the sum of their top-2 biased scores, keep {@code topk_group}; top-k over the
     * biased scores with other groups masked to 0.0; weights are the unbiased scores; with
     * {@code norm_topk_prob} divided by (sum + 1e-20).
     */
    record SigmoidGroupLimited(int nGroup, int topkGroup, float[] eScoreCorrectionBias) implements Gating {
        public SigmoidGroupLimited {
            checkGroups(nGroup, topkGroup);
            if (eScoreCorrectionBias == null) throw new IllegalArgumentException("DeepSeek-V3 gating needs e_score_correction_bias (one value per expert)");
            eScoreCorrectionBias = eScoreCorrectionBias.clone();
            for (int e = 0; e < eScoreCorrectionBias.length; e++) {
                if (!Float.isFinite(eScoreCorrectionBias[e])) {
                    throw new IllegalArgumentException("e_score_correction_bias[" + e + "] is " + eScoreCorrectionBias[e]);
                }
            }
        }

        /** Plain DeepSeek-V3 style sigmoid gating without groups (n_group = topk_group = 1). */
        public SigmoidGroupLimited(float[] eScoreCorrectionBias) { this(1, 1, eScoreCorrectionBias); }

        @Override public float[] eScoreCorrectionBias() { return eScoreCorrectionBias.clone(); }

        @Override public boolean equals(Object o) {
            return o instanceof SigmoidGroupLimited g && g.nGroup == nGroup && g.topkGroup == topkGroup
                    && Arrays.equals(g.eScoreCorrectionBias, eScoreCorrectionBias);
        }

        @Override public int hashCode() { return (nGroup * 31 + topkGroup) * 31 + Arrays.hashCode(eScoreCorrectionBias); }

        @Override public String toString() {
            return "SigmoidGroupLimited[nGroup=" + nGroup + ", topkGroup=" + topkGroup + ", bias=" + Arrays.toString(eScoreCorrectionBias) + "]";
        }
    }

    private static void checkGroups(int nGroup, int topkGroup) {
        if (nGroup < 1) throw new IllegalArgumentException("n_group must be >= 1 (got " + nGroup + ")");
        if (topkGroup < 1 || topkGroup > nGroup) {
            throw new IllegalArgumentException("topk_group must be in 1..n_group=" + nGroup + " (got " + topkGroup + ")");
        }
    }
}
