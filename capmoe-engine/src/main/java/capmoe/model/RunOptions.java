package capmoe.model;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.moe.RouterStage;

import java.util.Map;

/**
 * How to run the MoE layers: which capacity policy, which expert placement, who executes the
 * experts (local grouped matmul, or the expert-parallel runtime), who watches the routing, and
 * which Router stage decides it (one batch, or the multi-process runtime's global/local scope).
 * A null placement means "every expert on one device" ({@code Placement.contiguous(E, 1)} for the
 * layer's E), so that {@link #defaults()} needs no model. {@code layerPlacements} overrides the
 * placement for the layers it lists: replication ({@code replicate@N}) places each MoE layer's
 * replicas with EPLB from that layer's loads (null or empty: {@code placement} everywhere).
 */
public record RunOptions(Policy policy, Placement placement, ExpertExecutor executor, RoutingListener listener,
                         RouterStage router, Map<Integer, Placement> layerPlacements) {

    public RunOptions {
        if (policy == null) throw new IllegalArgumentException("policy must not be null (use new Policy.None())");
        if (executor == null) throw new IllegalArgumentException("executor must not be null");
        if (listener == null) listener = RoutingListener.NONE;
        if (router == null) router = RouterStage.LOCAL;
        layerPlacements = layerPlacements == null ? Map.of() : Map.copyOf(layerPlacements);
    }

    /** The same placement for every layer. */
    public RunOptions(Policy policy, Placement placement, ExpertExecutor executor, RoutingListener listener, RouterStage router) {
        this(policy, placement, executor, listener, router, null);
    }

    /** With the one-process Router stage ({@link RouterStage#LOCAL}). */
    public RunOptions(Policy policy, Placement placement, ExpertExecutor executor, RoutingListener listener) {
        this(policy, placement, executor, listener, RouterStage.LOCAL, null);
    }

    /** {@code Placement.contiguous(E, 1)} per expert count, made once (a placement is immutable; a decode step asks per layer). */
    private static final Placement[] ONE_DEVICE = new Placement[1025];

    private static Placement oneDevice(int experts) {
        if (experts < 1 || experts >= ONE_DEVICE.length) return Placement.contiguous(experts, 1);
        Placement p = ONE_DEVICE[experts];
        if (p == null) ONE_DEVICE[experts] = p = Placement.contiguous(experts, 1);   // a benign race: equal placements
        return p;
    }

    /** No capacity policy, one device, local grouped-matmul experts, no listener: plain HF semantics. */
    public static RunOptions defaults() {
        return new RunOptions(new Policy.None(), null, new LocalExpertExecutor(), RoutingListener.NONE);
    }

    /** {@link #defaults()} with a capacity policy. */
    public static RunOptions of(Policy policy) {
        return defaults().withPolicy(policy);
    }

    public RunOptions withPolicy(Policy p) { return new RunOptions(p, placement, executor, listener, router, layerPlacements); }

    public RunOptions withPlacement(Placement p) { return new RunOptions(policy, p, executor, listener, router, layerPlacements); }

    public RunOptions withExecutor(ExpertExecutor e) { return new RunOptions(policy, placement, e, listener, router, layerPlacements); }

    public RunOptions withListener(RoutingListener l) { return new RunOptions(policy, placement, executor, l, router, layerPlacements); }

    public RunOptions withRouter(RouterStage r) { return new RunOptions(policy, placement, executor, listener, r, layerPlacements); }

    /** Per-layer placements (replication), overriding {@link #placement()} for the layers listed. */
    public RunOptions withLayerPlacements(Map<Integer, Placement> p) { return new RunOptions(policy, placement, executor, listener, router, p); }

    /** The placement of MoE layer {@code layer} with {@code experts} experts: its own, else {@link #placementFor(int)}. */
    public Placement placementFor(int layer, int experts) {
        Placement p = layerPlacements.get(layer);
        if (p == null) return placementFor(experts);
        if (p.experts() != experts) {
            throw new IllegalArgumentException("layer " + layer + "'s placement is for " + p.experts() + " experts but the layer has " + experts);
        }
        return p;
    }

    /** The placement for a layer of {@code experts} experts. */
    public Placement placementFor(int experts) {
        if (placement == null) return oneDevice(experts);
        if (placement.experts() != experts) {
            throw new IllegalArgumentException("placement is for " + placement.experts() + " experts but the layer has " + experts);
        }
        return placement;
    }
}
