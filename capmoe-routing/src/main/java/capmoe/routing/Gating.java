package capmoe.routing;

/**
 * How router logits become gate scores and a top-k choice, per model family (HF config keys).
 * The capacity policies then rank (token, expert) pairs by the resulting gate score.
 */
public sealed interface Gating permits Gating.Softmax, Gating.SoftmaxGroupLimited, Gating.SigmoidGroupLimited {

    /** softmax over all experts, top-k (OLMoE, Mixtral, Qwen-MoE, DeepSeek-V2 {@code topk_method=greedy}). */
    record Softmax() implements Gating { }

    /** DeepSeek-V2 {@code group_limited_greedy}: softmax, keep the {@code topk_group} groups with the best max score. */
    record SoftmaxGroupLimited(int nGroup, int topkGroup) implements Gating { }

    /**
     * DeepSeek-V3 ({@code noaux_tc}): sigmoid scores; selection uses score + {@code e_score_correction_bias},
     * groups ranked by the sum of their top-2 biased scores, keep {@code topk_group}; weights are the unbiased scores.
     */
    record SigmoidGroupLimited(int nGroup, int topkGroup, float[] eScoreCorrectionBias) implements Gating { }
}
