package capmoe.routing;

/**
 * Gating + capacity policy for one MoE layer call. Thread-compatible: one Router per layer.
 * This is the entry point an engine uses: router logits in, kept (token, expert, weight) out.
 */
public final class Router {
    private final RouterConfig config;
    private final Policy policy;
    private final Placement placement;

    public Router(RouterConfig config, Policy policy, Placement placement) {
        this.config = config;
        this.policy = policy;
        this.placement = placement;
    }

    public RouterConfig config() { return config; }
    public Policy policy() { return policy; }
    public Placement placement() { return placement; }

    /** Routes T tokens; router logits are row-major [tokens x experts]. Token t's origin device is t*D/T. */
    public Routing route(float[] routerLogits, int tokens) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** As {@link #route(float[], int)}, with an explicit origin device per token (for expanded_origin). */
    public Routing route(float[] routerLogits, int tokens, int[] tokenOrigin) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
