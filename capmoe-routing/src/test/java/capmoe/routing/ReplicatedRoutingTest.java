package capmoe.routing;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** A Replicated policy routes as its inner policy; the placement's replicas only move device loads. */
class ReplicatedRoutingTest {

    /** EplbTest's hand-worked placement: expert 0 on devices {1, 1, 0}, experts 1..3 on 0, 1, 0. */
    static Placement handPlacement() {
        return Placement.replicated(2, new int[][] {{1, 1, 0}, {0}, {1}, {0}});
    }

    @Test
    void roundRobinByToken() {
        Placement p = handPlacement();
        // token t's pair with expert 0 runs on replica t mod 3: devices 1, 1, 0, 1, 1, 0
        int[] expect = {1, 1, 0, 1, 1, 0};
        for (int t = 0; t < 6; t++) assertEquals(expect[t], p.device(t, 0), "token " + t);
        assertEquals(0, p.device(5, 1));
        float[] probs = new float[6 * 4];
        for (int t = 0; t < 6; t++) {
            probs[t * 4] = 0.7f;
            probs[t * 4 + 1 + t % 3] = 0.3f;
        }
        Routing r = new Router(RouterConfig.softmax(4, 1, false), Policy.parse("replicate@2"), p).routeProbabilities(probs, 6, null);
        assertArrayEquals(new int[] {2, 4}, r.stats().deviceLoadBefore());
        assertArrayEquals(new int[] {6, 0, 0, 0}, r.stats().loadBefore());
    }

    @Test
    void replicationChangesNoPairOrWeightOnlyDeviceLoads() {
        int tokens = 512, experts = 16, k = 4, devices = 4;
        float[] logits = RoutingSample.skewed(tokens, experts, 7).logits();
        RouterConfig config = RouterConfig.softmax(experts, k, true);
        Routing plain = new Router(config, new Policy.None(), Placement.contiguous(experts, devices)).route(logits, tokens);
        long[] load = new long[experts];
        for (int e = 0; e < experts; e++) load[e] = plain.stats().loadBefore()[e];
        Placement eplb = Eplb.place(load, 4, devices);
        for (String inner : new String[] {"none", "score@1.0", "order@1.5", "expanded_origin@1.5", "device@1.0", "score@auto:mass=0.05"}) {
            Policy p = Policy.parse(inner);
            Routing alone = new Router(config, p, Placement.contiguous(experts, devices)).route(logits, tokens);
            Routing rep = new Router(config, Policy.parse("replicate@4+" + inner), eplb).route(logits, tokens);
            if (inner.startsWith("expanded_origin") || inner.startsWith("device")) {
                // device-aware policies see the replicated devices, so their choices may differ; loads stay within their bounds
                assertEquals(rep.stats().pairsAfter(), sum(rep.stats().deviceLoadAfter()), inner);
                continue;
            }
            assertArrayEquals(alone.offsets(), rep.offsets(), inner);
            assertArrayEquals(alone.expertIds(), rep.expertIds(), inner);
            assertArrayEquals(alone.weights(), rep.weights(), inner);
            assertArrayEquals(alone.stats().loadAfter(), rep.stats().loadAfter(), inner);
        }
        Routing rep = new Router(config, Policy.parse("replicate@4"), eplb).route(logits, tokens);
        assertTrue(rep.stats().maxDeviceLoadBefore() < plain.stats().maxDeviceLoadBefore(),
                "EPLB lowers the busiest device: " + rep.stats().maxDeviceLoadBefore() + " vs " + plain.stats().maxDeviceLoadBefore());
    }

    @Test
    void deviceCapacityCountsReplicaSlots() {
        int tokens = 256, experts = 8, k = 2;
        float[] logits = RoutingSample.skewed(tokens, experts, 2).logits();
        RouterConfig config = RouterConfig.softmax(experts, k, false);
        Placement p = Eplb.place(new double[] {90, 40, 20, 10, 10, 5, 5, 1}, 4, 4);
        Routing r = new Router(config, Policy.parse("replicate@4+device@1.0"), p).route(logits, tokens);
        int c = r.stats().capacity();
        int[] slots = p.expertsPerDevice();
        for (int d = 0; d < 4; d++) assertTrue(r.stats().deviceLoadAfter()[d] <= slots[d] * c, "device " + d);
    }

    @Test
    void thePlacementMustHoldTheAskedReplicas() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new Router(RouterConfig.softmax(4, 1, false), Policy.parse("replicate@2+score@1.0"), Placement.contiguous(4, 2)));
        assertTrue(e.getMessage().contains("asks for 2 redundant replicas but the placement has 0"), e.getMessage());
    }

    @Test
    void specsParseAndRoundTrip() {
        assertEquals(new Policy.Replicated(8, new Policy.TokenDrop(Scorer.SCORE, 1.5)), Policy.parse("replicate@8+score@1.5"));
        assertEquals(Policy.parse("replicate@8+score@1.5"), Policy.parse("score@1.5+replicate@8"));
        assertEquals("replicate@4", Policy.parse("replicate@4").label());
        assertEquals("replicate@8+score@1.5", Policy.parse("score@1.5 + replicate@8").label());
        assertEquals(8, Policy.parse("replicate@8+score@1.5").redundantReplicas());
        assertEquals(Policy.parse("score@1.5"), Policy.parse("replicate@8+score@1.5").capacityPolicy());
        PolicyTest.rejects("replicate@x", "not a whole number");
        PolicyTest.rejects("replicate@0", "must be >= 1");
        PolicyTest.rejects("replicate@2+replicate@3", "'+' joins replicate@N with one capacity policy");
        PolicyTest.rejects("score@1.0+order@1.0", "'+' joins replicate@N with one capacity policy");
        PolicyTest.rejects("replicate", "needs a replica count");
    }

    @Test
    void extraSlotsPerDevice() {
        assertEquals(1, handPlacement().extraSlotsPerDevice()); // 3 slots on a device vs ceil(4/2) = 2
        assertEquals(0, Placement.contiguous(8, 4).extraSlotsPerDevice());
    }

    private static long sum(int[] a) {
        long s = 0;
        for (int v : a) s += v;
        return s;
    }
}
