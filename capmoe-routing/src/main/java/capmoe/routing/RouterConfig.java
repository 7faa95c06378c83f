package capmoe.routing;

/**
 * A model's router, from its HF config: {@code n_experts}, {@code num_experts_per_tok},
 * the gating family, {@code norm_topk_prob} (kept weights renormalised to sum 1 after the policy)
 * and {@code routed_scaling_factor} (applied last; 1 for most models).
 */
public record RouterConfig(int experts, int topK, Gating gating, boolean normTopkProb, double routedScalingFactor) {
}
