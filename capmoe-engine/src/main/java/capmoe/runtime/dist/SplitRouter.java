package capmoe.runtime.dist;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.runtime.moe.RouterStage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The single-process form of the distributed runtime's routing, for one process holding the
 * whole global batch: what {@link DistributedMoe} decides on D ranks, computed without any
 * exchange. Each forward step's batch of B sequences is split over {@code ranks} ranks as
 * {@link SequenceSplit} says; sequence s belongs to rank {@code rankOf(s)}, which is each of its
 * tokens' origin device (expanded_origin); then
 * <ul>
 *   <li>{@link CapacityScope#GLOBAL}: one Router over all tokens;</li>
 *   <li>{@link CapacityScope#LOCAL}: one Router per rank over that rank's tokens alone
 *       ({@code C_local = ceil(γ·k·T_rank/E)}), the blocks glued back in token order.</li>
 * </ul>
 * Tests compare the MPI run against it; it is also how to see the quality of local capacity
 * without launching ranks.
 */
public record SplitRouter(int ranks, CapacityScope scope) implements RouterStage {

    public SplitRouter {
        if (ranks < 1) throw new IllegalArgumentException("ranks must be >= 1, got " + ranks);
        if (scope == null) throw new IllegalArgumentException("capacity scope is missing");
    }

    @Override
    public Routing route(int layer, RouterConfig config, Policy policy, Placement placement, float[] logits, int tokens,
                         int[] sequenceOf, int sequences) {
        SequenceSplit split = new SequenceSplit(sequences, ranks);
        int[] origin = new int[tokens];
        for (int t = 0; t < tokens; t++) origin[t] = split.rankOf(sequenceOf[t]);
        for (int t = 1; t < tokens; t++) {
            if (origin[t] < origin[t - 1]) {
                throw new IllegalArgumentException("tokens are not in rank order (token " + t + " of rank " + origin[t]
                        + " after one of rank " + origin[t - 1] + ")");
            }
        }
        if (scope == CapacityScope.GLOBAL) {
            return RouterStage.router(layer, config, policy, placement).route(logits, tokens, origin);
        }
        int e = config.experts();
        List<Routing> parts = new ArrayList<>();
        for (int r = 0, from = 0; r < split.ranks(); r++) {
            int to = from;
            while (to < tokens && origin[to] == r) to++;
            int[] own = new int[to - from];
            Arrays.fill(own, r);
            parts.add(RouterStage.router(layer, config, policy, placement)
                    .route(Arrays.copyOfRange(logits, from * e, to * e), to - from, own));
            from = to;
        }
        return RoutingSlices.concat(parts);
    }
}
