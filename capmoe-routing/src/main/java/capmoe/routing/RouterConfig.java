package capmoe.routing;

/**
 * A model's router, from its HF config: {@code n_experts}, {@code num_experts_per_tok},
 * the gating family, {@code norm_topk_prob} (kept weights renormalised to sum 1 after the policy)
 * and {@code routed_scaling_factor} (applied last; 1 for most models).
 */
public record RouterConfig(int experts, int topK, Gating gating, boolean normTopkProb, double routedScalingFactor) {

    public RouterConfig {
        if (experts < 1) throw new IllegalArgumentException("router: experts must be >= 1 (got " + experts + ")");
        if (topK < 1 || topK > experts) {
            throw new IllegalArgumentException("router: top_k must be in 1..E=" + experts + " (got top_k=" + topK + ")");
        }
        if (gating == null) throw new IllegalArgumentException("router: gating is missing");
        if (!(routedScalingFactor > 0) || Double.isInfinite(routedScalingFactor)) {
            throw new IllegalArgumentException("router: routed_scaling_factor must be a positive number (got " + routedScalingFactor + ")");
        }
        int nGroup = switch (gating) {
            case Gating.Softmax s -> 1;
            case Gating.SoftmaxGroupLimited g -> g.nGroup();
            case Gating.SigmoidGroupLimited g -> g.nGroup();
        };
        int topkGroup = switch (gating) {
            case Gating.Softmax s -> 1;
            case Gating.SoftmaxGroupLimited g -> g.topkGroup();
            case Gating.SigmoidGroupLimited g -> g.topkGroup();
        };
        if (experts % nGroup != 0) {
            throw new IllegalArgumentException("router: n_group=" + nGroup + " does not divide the " + experts + " experts");
        }
        if (topK > topkGroup * (experts / nGroup)) {
            throw new IllegalArgumentException("router: top_k=" + topK + " exceeds the " + topkGroup * (experts / nGroup)
                    + " experts in topk_group=" + topkGroup + " groups of " + experts / nGroup);
        }
        if (gating instanceof Gating.SigmoidGroupLimited g) {
            if (g.eScoreCorrectionBias().length != experts) {
                throw new IllegalArgumentException("router: e_score_correction_bias has " + g.eScoreCorrectionBias().length
                        + " values but there are " + experts + " experts");
            }
            if (nGroup > 1 && experts / nGroup < 2) {
                throw new IllegalArgumentException("router: DeepSeek-V3 group scores sum the top-2 experts of a group, "
                        + "so groups need >= 2 experts (E=" + experts + ", n_group=" + nGroup + ")");
            }
        }
    }

    /** softmax top-k router (OLMoE, Qwen-MoE, Mixtral with normTopkProb=true). */
    public static RouterConfig softmax(int experts, int topK, boolean normTopkProb) {
        return new RouterConfig(experts, topK, new Gating.Softmax(), normTopkProb, 1.0);
    }
}
