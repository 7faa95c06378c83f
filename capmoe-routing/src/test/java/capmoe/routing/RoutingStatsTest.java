package capmoe.routing;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The statistics of one small call, computed by hand. */
class RoutingStatsTest {

    @Test
    void handComputedScoreDropOnTwoDevices() {
        float[] p = {
                0.50f, 0.30f, 0.10f, 0.10f,   // t0 -> {0, 1}
                0.40f, 0.35f, 0.15f, 0.10f,   // t1 -> {0, 1}
                0.60f, 0.10f, 0.20f, 0.10f,   // t2 -> {0, 2}
                0.27f, 0.26f, 0.22f, 0.25f};  // t3 -> {0, 1}
        // C = ceil(1.0 * 2 * 4/4) = 2. Expert 0 (4 tokens) keeps t2 (.6), t0 (.5); expert 1 (3 tokens)
        // keeps t1 (.35), t0 (.3). t3 loses both experts.
        Router router = new Router(RouterConfig.softmax(4, 2, false), Policy.parse("score@1.0"), Placement.contiguous(4, 2));
        Routing r = router.routeProbabilities(p, 4, null);
        RoutingStats s = r.stats();
        assertEquals(2, s.capacity());
        assertArrayEquals(new int[] {4, 3, 1, 0}, s.loadBefore());
        assertArrayEquals(new int[] {2, 2, 1, 0}, s.loadAfter());
        assertArrayEquals(new int[] {7, 1}, s.deviceLoadBefore());
        assertArrayEquals(new int[] {4, 1}, s.deviceLoadAfter());
        assertEquals(3, s.droppedPairs());
        assertEquals(0, s.addedPairs());
        assertEquals(1, s.tokensWithoutExperts());
        assertEquals(8, s.pairsBefore());
        assertEquals(5, s.pairsAfter());
        assertEquals(3.0 / 8, s.droppedFraction(), 1e-12);
        assertEquals(4 / 2.0, s.expertImbalanceBefore(), 1e-12);
        assertEquals(2 / 1.25, s.expertImbalanceAfter(), 1e-12);
        assertEquals(7 / 4.0, s.deviceImbalanceBefore(), 1e-12);
        assertEquals(4 / 2.5, s.deviceImbalanceAfter(), 1e-12);
        assertEquals(7 / 4.0, s.speedupBound(), 1e-12);
        assertArrayEquals(new int[] {0, 2, 3, 5, 5}, r.offsets()); // t0 {0,1}, t1 {1}, t2 {0,2}, t3 {}
        assertArrayEquals(new int[] {0, 1, 1, 0, 2}, r.expertIds());
    }

    @Test
    void speedupBoundEdgeCases() {
        RoutingStats nothing = new RoutingStats(1, new int[2], new int[2], new int[1], new int[1], 0, 0, 0);
        assertEquals(1.0, nothing.speedupBound());
        assertEquals(0.0, nothing.droppedFraction());
        assertEquals(0.0, RoutingStats.maxOverMean(new int[3]));
        RoutingStats all = new RoutingStats(1, new int[] {2, 0}, new int[2], new int[] {2}, new int[1], 2, 0, 2);
        assertEquals(Double.POSITIVE_INFINITY, all.speedupBound());
    }

    @Test
    void noneAndExpertDropReportTheBalancedLoadAsCapacity() {
        float[] p = RoutingSample.skewed(10, 4, 1).logits();
        var config = RouterConfig.softmax(4, 2, false);
        // ceil(1.0 * 2 * 10/4) = 5, as the golden cases record for none and expert_drop
        assertEquals(5, new Router(config, new Policy.None(), null).route(p, 10).stats().capacity());
        assertEquals(5, new Router(config, new Policy.ExpertDrop(0.25), null).route(p, 10).stats().capacity());
    }

    @Test
    void zeroTokensIsAnEmptyRouting() {
        Routing r = new Router(RouterConfig.softmax(4, 2, true), Policy.parse("score@1.0"), null).route(new float[0], 0);
        assertEquals(0, r.keptPairs());
        assertArrayEquals(new int[] {0}, r.offsets());
        assertEquals(0, r.stats().capacity());
    }
}
