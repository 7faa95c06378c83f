package capmoe.routing;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * {@link Router#routeReusing}: every call routes exactly as {@link Router#route} (kept pairs,
 * weights and every statistic, bit for bit), over policies and call sizes that grow, shrink and
 * repeat; calls of the same shape hand out the same Routing, stats and arrays (what makes a steady
 * decode step allocate none); and a Routing from {@code route} is never overwritten by later
 * reusing calls.
 */
class RouteReusingTest {

    private static void assertSameRouting(Routing a, Routing b, String what) {
        assertEquals(a.tokens(), b.tokens(), what + ": tokens");
        assertArrayEquals(a.offsets(), b.offsets(), what + ": offsets");
        assertArrayEquals(a.expertIds(), b.expertIds(), what + ": experts");
        assertArrayEquals(a.weights(), b.weights(), what + ": weights");
        RoutingStats s = a.stats(), t = b.stats();
        assertEquals(s.capacity(), t.capacity(), what + ": capacity");
        assertArrayEquals(s.loadBefore(), t.loadBefore(), what + ": load before");
        assertArrayEquals(s.loadAfter(), t.loadAfter(), what + ": load after");
        assertArrayEquals(s.deviceLoadBefore(), t.deviceLoadBefore(), what + ": device load before");
        assertArrayEquals(s.deviceLoadAfter(), t.deviceLoadAfter(), what + ": device load after");
        assertEquals(s.droppedPairs(), t.droppedPairs(), what + ": dropped");
        assertEquals(s.addedPairs(), t.addedPairs(), what + ": added");
        assertEquals(s.tokensWithoutExperts(), t.tokensWithoutExperts(), what + ": tokens without experts");
        assertEquals(Double.doubleToLongBits(s.scoreBefore()), Double.doubleToLongBits(t.scoreBefore()), what + ": score before");
        assertEquals(Double.doubleToLongBits(s.scoreDropped()), Double.doubleToLongBits(t.scoreDropped()), what + ": score dropped");
    }

    @Test
    void reusingCallsRouteAsRouteAndShareArraysOnlyAmongThemselves() {
        int E = 16, k = 4;
        RouterConfig config = RouterConfig.softmax(E, k, true);
        Placement placement = Placement.contiguous(E, 2);
        for (String p : new String[] {"none", "position@1.0", "expanded@1.5", "device@1.0", "expert_drop@0.1"}) {
            Policy policy = Policy.parse(p);
            Router reusing = new Router(config, policy, placement, 2), plain = new Router(config, policy, placement, 2);
            int[] sizes = {1, 1, 200, 7, 7, 1, 300, 1};
            Routing kept = null, previous = null;
            int[] keptIds = null;
            double keptScore = 0;
            int previousTokens = -1, previousPairs = -1; // read before the next call overwrites previous's arrays
            for (int i = 0; i < sizes.length; i++) {
                float[] logits = RoutingSample.skewed(sizes[i], E, 60 + i).logits();
                Routing r = reusing.routeReusing(logits, sizes[i], null);
                String what = p + " call " + i;
                assertSameRouting(plain.route(logits, sizes[i]), r, what);
                if (previousTokens == r.tokens() && previousPairs == r.keptPairs()) {
                    assertSame(previous.offsets(), r.offsets(), what + ": the same shape reuses the offsets");
                    assertSame(previous.expertIds(), r.expertIds(), what + ": the same shape reuses the experts");
                    assertSame(previous.stats().loadAfter(), r.stats().loadAfter(), what + ": the same shape reuses the loads");
                    assertSame(previous, r, what + ": the same shape reuses the Routing");
                    assertSame(previous.stats(), r.stats(), what + ": the same shape reuses the stats");
                }
                previous = r;
                previousTokens = r.tokens();
                previousPairs = r.keptPairs();
                if (i == 3) {
                    kept = reusing.route(logits, sizes[i]);
                    keptIds = kept.expertIds().clone();
                    keptScore = kept.stats().scoreBefore();
                }
            }
            assertArrayEquals(keptIds, kept.expertIds(), p + ": route's result is its own, untouched by later reusing calls");
            assertEquals(keptScore, kept.stats().scoreBefore(), p + ": route's stats are its own, untouched by later reusing calls");
        }
    }
}
