package capmoe.runtime.moe;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;

/**
 * The Router stage: router logits [tokens x E] in, kept (token, expert, weight) pairs out,
 * through capmoe-routing's {@link Router} (gating, then the capacity policy over the call's
 * tokens).
 */
public final class RouterStage {
    private RouterStage() { }

    /**
     * Routes one call of MoE layer {@code layer}. A fresh Router per call: its scratch is tiny
     * next to the experts, and a call's routing then depends on its input alone; its random
     * stream is the layer's (stream = layer index), so layers draw independently.
     *
     * @param origins each token's origin device (expanded_origin), or null for token t's
     *                default {@code t*D/T} (see {@link Router#route(float[], int)})
     */
    public static Routing route(int layer, RouterConfig config, Policy policy, Placement placement,
                                float[] logits, int tokens, int[] origins) {
        return new Router(config, policy, placement, layer).route(logits, tokens, origins);
    }
}
