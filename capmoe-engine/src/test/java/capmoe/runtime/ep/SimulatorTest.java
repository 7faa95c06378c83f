package capmoe.runtime.ep;

import capmoe.routing.Gating;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.runtime.sim.CostModel;
import capmoe.runtime.sim.Simulator;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;
import capmoe.runtime.trace.TraceWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Replaying a trace: the recorded routing comes back exactly, and capacity pays most at few experts per device. */
class SimulatorTest {
    @TempDir Path dir;
    static final int E = 32, K = 4, T = 256;

    /** Softmax routing over skewed logits (a few hot experts, like trained routers), recorded under none. */
    RoutingTrace skewedTrace(int batches, int layers) {
        Path file = dir.resolve("skew.trace");
        RouterConfig config = new RouterConfig(E, K, new Gating.Softmax(), false, 1.0);
        SplittableRandom r = new SplittableRandom(5);
        try (TraceWriter w = new TraceWriter(file, new RoutingTrace.Header(E, K, false, "none", "synthetic"))) {
            for (int b = 0; b < batches; b++) {
                for (int l = 0; l < layers; l++) {
                    float[] logits = new float[T * E];
                    for (int i = 0; i < logits.length; i++) {
                        int e = i % E;
                        // expert popularity depends on the layer, hot experts +1.5
                        double bias = (e * 7 + l * 3) % E < 4 ? 1.5 : 0;
                        logits[i] = (float) (r.nextGaussian() + bias);
                    }
                    w.onRouting(l, new Router(config, new Policy.None(), null).route(logits, T));
                }
            }
        }
        return TraceReader.read(file);
    }

    @Test
    void theRecordedTopKAndScoresReplayExactly() {
        RoutingTrace trace = skewedTrace(1, 2);
        RouterConfig config = new RouterConfig(E, K, new Gating.Softmax(), false, 1.0);
        for (RoutingTrace.Record rec : trace.records()) {
            Routing again = new Router(config, new Policy.None(), null).route(Simulator.logitsOf(rec.routing()), T);
            assertArrayEquals(rec.routing().expertIds(), again.expertIds(), "same top-k");
            assertArrayEquals(rec.routing().weights(), again.weights(), 1e-6f, "same gate scores up to exp/log rounding");
        }
    }

    @Test
    void capacityPaysMostAtOneOrTwoExpertsPerDevice() {
        RoutingTrace trace = skewedTrace(2, 3);
        Simulator sim = new Simulator(trace, new CostModel(20e-6, 1e-6), new CommModel(0, 2), 64);
        int[] ds = Simulator.deviceCounts(E, 1, 8);
        assertArrayEquals(new int[]{4, 8, 16, 32}, ds, "32 experts: 8, 4, 2, 1 per device");
        List<Simulator.Result> results = sim.run(List.of(new Policy.None(), Policy.parse("score@1.0")), ds);
        assertEquals(8, results.size());
        List<Double> speedup = new ArrayList<>();
        for (Simulator.Result r : results) {
            if (r.policy().equals("none")) {
                assertEquals(1.0, r.speedup(), 0, "none against itself");
                assertEquals(0.0, r.droppedFraction(), 0);
            } else {
                assertTrue(r.speedup() > 1, "capping the hot experts shortens the critical path: " + r);
                assertTrue(r.droppedFraction() > 0 && r.droppedFraction() < 0.5, r.toString());
                speedup.add(r.speedup());
            }
        }
        // speedup at 1 expert/device (D=32) beats 8 experts/device (D=4): more experts per device average the load out
        assertTrue(speedup.get(3) > speedup.get(0), "speedup by D=4,8,16,32: " + speedup);
    }

    @Test
    void noneAtOneExpertPerDeviceCostsTheHottestExpert() {
        RoutingTrace trace = skewedTrace(1, 1);
        CostModel cost = new CostModel(5, 1);
        Simulator.Result none = new Simulator(trace, cost, new CommModel(0, 2), 64).run(List.of(new Policy.None()), new int[]{E}).get(0);
        int[] load = new int[E];
        for (int id : trace.records().get(0).routing().expertIds()) load[id]++;
        int max = 0;
        for (int v : load) max = Math.max(max, v);
        assertEquals(5 + max, none.seconds(), 1e-9);
    }

    /**
     * Shared experts (DeepSeek-V2-Lite's 2) priced as stated: each device runs them on its own
     * ceil(T/D) tokens, the same rows everywhere. With time proportional to rows (a = 0) every
     * speedup is then (max_none + S) / (max_policy + S), S = 2 * ceil(T/D) per call.
     */
    @Test
    void sharedExpertsAddTheSameRowsToEveryDeviceAndPullSpeedupsTowardsOne() {
        RoutingTrace trace = skewedTrace(1, 2);
        int d = 8, shared = 2, calls = 2;
        List<Policy> policies = List.of(new Policy.None(), Policy.parse("score@1.0"));
        CostModel cost = new CostModel(0, 1e-6);
        List<Simulator.Result> routed = new Simulator(trace, cost, new CommModel(0, 2), 64).run(policies, new int[]{d});
        List<Simulator.Result> priced = new Simulator(trace, cost, new CommModel(0, 2), 64, shared).run(policies, new int[]{d});
        double s = (double) calls * shared * ((T + d - 1) / d); // rows the shared experts add to every device, over the calls
        double noneMax = routed.get(0).seconds() / 1e-6, scoreMax = routed.get(1).seconds() / 1e-6;
        assertEquals(routed.get(0).seconds() + s * 1e-6, priced.get(0).seconds(), 1e-12);
        assertEquals((noneMax + s) / (scoreMax + s), priced.get(1).speedup(), 1e-9);
        assertEquals(priced.get(1).speedup(), priced.get(1).bound(), 1e-9, "a = 0: speedup = bound, shared rows in both");
        assertTrue(priced.get(1).speedup() > 1 && priced.get(1).speedup() < routed.get(1).speedup(), priced + " vs " + routed);
        assertEquals(routed.get(1).droppedFraction(), priced.get(1).droppedFraction(), 0, "shared experts drop nothing");
    }

    @Test
    void onlyPlainTopKTracesCanBeReplayed() {
        Path file = dir.resolve("capped.trace");
        try (TraceWriter w = new TraceWriter(file, new RoutingTrace.Header(8, 2, false, "score@1.0", ""))) {
            w.onRouting(0, TestRoutings.random(4, 8, 2, TestRoutings.uniform(8), 1));
        }
        String m = assertThrows(IllegalArgumentException.class,
                () -> new Simulator(TraceReader.read(file), new CostModel(0, 1), new CommModel(0, 2), 8)).getMessage();
        assertTrue(m.contains("score@1.0") && m.contains("none"), m);
    }

    /**
     * Replication on the simulator: every pair still runs (nothing dropped), EPLB lowers the
     * busiest device's load, the layer time follows, and each device holds ceil((E+R)/D) slots.
     */
    @Test
    void replicationKeepsEveryPairAndLowersTheBusiestDevice() {
        RoutingTrace trace = skewedTrace(2, 3);
        Simulator sim = new Simulator(trace, new CostModel(0, 1e-6), new CommModel(0, 2), 64);
        List<Simulator.Result> r = sim.run(List.of(new Policy.None(), Policy.parse("replicate@8"), Policy.parse("replicate@8+score@1.0"),
                Policy.parse("score@1.0")), new int[]{8});
        Simulator.Result none = r.get(0), rep = r.get(1), both = r.get(2), score = r.get(3);
        assertEquals(0.0, rep.droppedFraction(), 0);
        assertTrue(rep.bound() > 1.2, "EPLB spreads the hot experts: " + rep);
        assertEquals(rep.bound(), rep.speedup(), 1e-9, "time proportional to rows (a = 0): speedup = bound");
        assertEquals(1, rep.extraSlots(), "40 slots on 8 devices: 5 each, one more than 32/8");
        assertEquals(score.droppedFraction(), both.droppedFraction(), 1e-12, "the policy keeps the same pairs with or without replicas");
        assertTrue(both.speedup() >= score.speedup() * 0.95, both + " vs " + score);
        assertEquals(0, none.extraSlots());
        Map<Integer, long[]> loads = Simulator.layerLoads(trace);
        assertEquals(3, loads.size());
        for (long[] l : loads.values()) assertEquals(2L * T * K, java.util.Arrays.stream(l).sum());
    }
}
