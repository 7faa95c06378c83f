package capmoe.runtime.dist;

import capmoe.routing.Routing;
import capmoe.routing.RoutingStats;

import java.util.Arrays;
import java.util.List;

/** Cutting a routing into token blocks and gluing blocks back together (token order kept). */
final class RoutingSlices {
    private RoutingSlices() { }

    /**
     * Tokens {@code from .. to-1} of {@code r}, renumbered from 0. The stats stay those of the
     * whole call (they describe the decision, which was taken over all its tokens).
     */
    static Routing slice(Routing r, int from, int to) {
        int[] off = r.offsets();
        int base = off[from];
        int[] offsets = new int[to - from + 1];
        for (int t = from; t <= to; t++) offsets[t - from] = off[t] - base;
        return new Routing(to - from, r.experts(), offsets, Arrays.copyOfRange(r.expertIds(), base, off[to]),
                Arrays.copyOfRange(r.weights(), base, off[to]), r.stats());
    }

    /**
     * The blocks one after another as one routing. Stats: loads, dropped/added pairs, empty
     * tokens and score masses are sums over the blocks; capacity is the largest block's (blocks
     * route apart).
     */
    static Routing concat(List<Routing> parts) {
        int tokens = 0, pairs = 0, experts = parts.getFirst().experts();
        for (Routing p : parts) {
            tokens += p.tokens();
            pairs += p.keptPairs();
        }
        int[] offsets = new int[tokens + 1];
        int[] ids = new int[pairs];
        float[] weights = new float[pairs];
        int t = 0, n = 0, capacity = 0, empty = 0;
        long dropped = 0, added = 0;
        double scoreBefore = 0, scoreDropped = 0;
        RoutingStats first = parts.getFirst().stats();
        int[] before = new int[experts], after = new int[experts];
        int[] devBefore = new int[first.deviceLoadBefore().length], devAfter = new int[first.deviceLoadAfter().length];
        for (Routing p : parts) {
            for (int i = 0; i < p.tokens(); i++) offsets[t + i] = n + p.offsets()[i];
            System.arraycopy(p.expertIds(), 0, ids, n, p.keptPairs());
            System.arraycopy(p.weights(), 0, weights, n, p.keptPairs());
            t += p.tokens();
            n += p.keptPairs();
            RoutingStats s = p.stats();
            capacity = Math.max(capacity, s.capacity());
            dropped += s.droppedPairs();
            added += s.addedPairs();
            empty += s.tokensWithoutExperts();
            scoreBefore += s.scoreBefore();
            scoreDropped += s.scoreDropped();
            add(before, s.loadBefore());
            add(after, s.loadAfter());
            add(devBefore, s.deviceLoadBefore());
            add(devAfter, s.deviceLoadAfter());
        }
        offsets[tokens] = n;
        return new Routing(tokens, experts, offsets, ids, weights,
                new RoutingStats(capacity, before, after, devBefore, devAfter, dropped, added, empty, scoreBefore, scoreDropped));
    }

    private static void add(int[] into, int[] x) {
        for (int i = 0; i < into.length; i++) into[i] += x[i];
    }
}
