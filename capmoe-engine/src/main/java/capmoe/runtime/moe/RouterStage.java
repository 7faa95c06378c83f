package capmoe.runtime.moe;

import capmoe.kernels.Parallel;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;

/**
 * The Router stage: router logits [tokens x E] in, kept (token, expert, weight) pairs out,
 * through capmoe-routing's {@link Router} (gating, then the capacity policy). Implementations
 * differ only in which tokens a policy's capacity counts and where a token comes from:
 * {@link #LOCAL} routes the call's tokens as one batch; the multi-process runtime
 * ({@code capmoe.runtime.dist}) first gathers the other ranks' logits (capacity scope
 * {@code global}) or routes its own tokens alone ({@code local}).
 */
@FunctionalInterface
public interface RouterStage {

    /**
     * Routes one call of MoE layer {@code layer} over this call's tokens.
     *
     * @param placement  which device (rank) hosts each expert, for device capacity and expanded_origin
     * @param logits     router logits [tokens x E], fp32
     * @param sequenceOf token t's sequence in the forward step's batch (its origin, for a stage
     *                   that splits a batch by sequence); length ≥ tokens, ascending
     * @param sequences  sequences in the forward step's batch
     * @return the kept pairs of these tokens (token indices 0..tokens-1)
     */
    Routing route(int layer, RouterConfig config, Policy policy, Placement placement, float[] logits, int tokens,
                  int[] sequenceOf, int sequences);

    /**
     * One process, one batch: the call's tokens routed as one batch, token t's origin device
     * {@code t*D/T} (see {@link Router#route(float[], int)}). The Router of a layer is kept per
     * thread while config, policy and placement stay the same objects, and {@link Router#restart}ed
     * before each call, which routes exactly as a fresh {@link #router} would: a decode step then
     * allocates no Router scratch.
     */
    RouterStage LOCAL = (layer, config, policy, placement, logits, tokens, sequenceOf, sequences) ->
            Kept.router(layer, config, policy, placement).route(logits, tokens, null);

    /** The per-thread Routers of {@link #LOCAL}, by layer. */
    final class Kept {
        private Kept() { }

        /** The gate scores and top-k of a prefill's tokens over the current thread team ({@link Router#tokenRanges}). */
        static final Router.TokenRanges TEAM = (n, work, body) -> Parallel.current().forWork(n, work, body::run);

        private static final ThreadLocal<Router[]> ROUTERS = ThreadLocal.withInitial(() -> new Router[0]);

        static Router router(int layer, RouterConfig config, Policy policy, Placement placement) {
            Router[] kept = ROUTERS.get();
            if (layer < 0 || layer > 4096) return RouterStage.router(layer, config, policy, placement);
            if (layer >= kept.length) ROUTERS.set(kept = java.util.Arrays.copyOf(kept, layer + 1));
            Router r = kept[layer];
            if (r == null || r.config() != config || r.policy() != policy || r.placement() != placement) {
                kept[layer] = r = RouterStage.router(layer, config, policy, placement);
            } else {
                r.restart();
            }
            return r;
        }
    }

    /**
     * As {@link #LOCAL} (the same bits), but the Routing's arrays are the kept router's own
     * ({@link Router#routeReusing}): this thread's next call for the layer overwrites them. For a
     * caller that keeps nothing of the result past its layer call (no listener, the local executor).
     */
    static Routing localReusing(int layer, RouterConfig config, Policy policy, Placement placement, float[] logits, int tokens) {
        return Kept.router(layer, config, policy, placement).routeReusing(logits, tokens, null);
    }

    /**
     * The Router of one call of layer {@code layer}. A fresh Router per call: its scratch is tiny
     * next to the experts, and a call's routing then depends on its input alone; its random
     * stream is the layer's (stream = layer index), so layers draw independently. Its gate scores
     * and top-k of a many-token call run over the current thread team ({@link Kept#TEAM}).
     */
    static Router router(int layer, RouterConfig config, Policy policy, Placement placement) {
        return new Router(config, policy, placement, layer).tokenRanges(Kept.TEAM);
    }
}
