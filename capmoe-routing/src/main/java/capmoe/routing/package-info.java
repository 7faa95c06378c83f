/**
 * Capacity-aware MoE routing (He et al., "Capacity-Aware Inference: Mitigating the Straggler
 * Effect in Mixture of Experts", ICLR 2026). No runtime dependencies; uses jdk.incubator.vector
 * for the softmax when the module is present.
 *
 * <ul>
 *   <li>{@link capmoe.routing.RouterConfig} + {@link capmoe.routing.Gating}: a model's router
 *       (softmax top-k, DeepSeek-V2 group-limited greedy, DeepSeek-V3 sigmoid + bias + groups),
 *       HF transformers 5 semantics.</li>
 *   <li>{@link capmoe.routing.Policy}: none, Token Drop (score / order / reverse / random),
 *       Expanded Drop (fixed local list, or m experts of the token's origin device), device-level
 *       capacity, Expert Drop; spec strings like {@code score@1.5} via {@link capmoe.routing.Policy#parse}.</li>
 *   <li>{@link capmoe.routing.Placement}: which device hosts each expert.</li>
 *   <li>{@link capmoe.routing.Router#route}: router logits in, {@link capmoe.routing.Routing}
 *       (kept experts and weights per token, CSR) and {@link capmoe.routing.RoutingStats} out.</li>
 *   <li>{@link capmoe.routing.RoutingSample}, {@link capmoe.routing.PolicyComparison},
 *       {@link capmoe.routing.LoadSummary}: the skewed sample and the per-policy table of
 *       {@code ./capmoe demo}, reusable with a real model's router logits.</li>
 *   <li>{@link capmoe.routing.GoldenCase}: a case of ../shared/fixtures/routing/cases.json, run and compared.</li>
 * </ul>
 */
package capmoe.routing;
