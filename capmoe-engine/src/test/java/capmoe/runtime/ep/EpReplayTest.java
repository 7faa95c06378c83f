package capmoe.runtime.ep;

import capmoe.routing.Routing;
import capmoe.runtime.LocalExpertExecutor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Recorded MoE calls replay interleaved; medians and per-repeat ranges come from the right measurements. */
class EpReplayTest {

    static final int E = 8, H = 16, I = 24, K = 2, T = 40;
    final PlainSwiGluExperts experts = new PlainSwiGluExperts(E, H, I, 7);

    @Test
    void theRecorderChangesNoOutputAndKeepsACopyOfEachCall() {
        float[] x = TestRoutings.activations(T, H, 1);
        Routing routing = TestRoutings.random(T, E, K, TestRoutings.uniform(E), 2);
        EpReplay.Recorder rec = new EpReplay.Recorder(new LocalExpertExecutor());
        float[] out = new float[T * H];
        rec.run(4, experts, x, routing, out);
        assertArrayEquals(TestRoutings.reference(experts, x, routing), out);
        float[] seen = x.clone();
        x[0] += 1; // the engine reuses its buffers: the record must not change with them
        EpReplay.Call call = rec.calls().getFirst();
        assertEquals(4, call.layer());
        assertArrayEquals(seen, call.x());
        assertNotSame(x, call.x());
        rec.clear();
        assertTrue(rec.calls().isEmpty());
    }

    @Test
    void everyPolicysCallsAreReplayedOncePerRepeatWithTheirOwnRouting() {
        // policy 0 spreads its pairs, policy 1 puts every pair on experts 0 and 1 (device 0 of 4)
        Devices devices = Devices.contiguous(E, 4);
        int[] offsets = new int[T + 1];
        int[] ids = new int[T * K];
        float[] w = new float[T * K];
        for (int t = 0; t < T; t++) {
            offsets[t + 1] = K * (t + 1);
            ids[K * t] = 0;
            ids[K * t + 1] = 1;
            w[K * t] = w[K * t + 1] = 0.5f;
        }
        Routing skewed = new Routing(T, E, offsets, ids, w, null);
        Routing spread = TestRoutings.random(T, E, K, TestRoutings.uniform(E), 3);
        float[] x = TestRoutings.activations(T, H, 4);
        List<List<EpReplay.Call>> calls = List.of(
                List.of(new EpReplay.Call(0, experts, x, spread), new EpReplay.Call(1, experts, x, spread)),
                List.of(new EpReplay.Call(0, experts, x, skewed), new EpReplay.Call(1, experts, x, skewed)));
        int[] progress = new int[2];
        for (EpMode mode : EpMode.values()) {
            List<EpReplay.Timings> t = EpReplay.time(calls, devices, mode, new CommModel(0, 2), d -> CoreShare.unbound(), 3, 1,
                    (done, total) -> { progress[0] = done; progress[1] = total; });
            assertEquals(2, t.size());
            assertArrayEquals(new int[]{4, 4}, progress, "1 warm-up + 3 measured passes");
            for (EpReplay.Timings p : t) {
                assertEquals(2, p.calls());
                assertEquals(3, p.repeats());
            }
            int[] spreadPairs = devicePairs(spread, devices);
            for (int c = 0; c < 2; c++) {
                for (int r = 0; r < 3; r++) {
                    assertEquals(c, t.get(0).byCall()[c][r].layer());
                    assertEquals(mode, t.get(0).byCall()[c][r].mode());
                    assertArrayEquals(spreadPairs, t.get(0).byCall()[c][r].devicePairs(), "policy 0 replays its own routing");
                    assertArrayEquals(new int[]{T * K, 0, 0, 0}, t.get(1).byCall()[c][r].devicePairs(), "policy 1 replays its own");
                }
            }
        }
    }

    @Test
    void theSpeedupIsTheMedianOverRepeatsOfEachRepeatsOwnRatio() {
        // 2 calls x 3 repeats; the EP time of a fake timing is its critical path (no comm)
        EpReplay.Timings none = new EpReplay.Timings(new LayerTiming[][]{
                {timing(100), timing(300), timing(200)},
                {timing(50), timing(10), timing(40)}});
        EpReplay.Timings policy = new EpReplay.Timings(new LayerTiming[][]{
                {timing(50), timing(100), timing(400)},
                {timing(50), timing(50), timing(50)}});
        // repeats: none 150, 310, 240; policy 100, 150, 450
        assertEquals(150e-9, none.repeatSeconds(0), 1e-18);
        assertEquals(240e-9, none.epSeconds(), 1e-18, "median of the repeats' sums");
        assertEquals(150e-9, policy.epSeconds(), 1e-18);
        EpReplay.Speedup s = EpReplay.Speedup.of(none, policy);
        // per repeat: 1.5, 2.07, 0.53 -> median 1.5: the third repeat's slow policy call is an outlier, not the answer
        assertEquals(1.5, s.median(), 1e-12);
        assertEquals(240.0 / 450, s.min(), 1e-12);
        assertEquals(310.0 / 150, s.max(), 1e-12);
        assertTrue(s.min() <= s.median() && s.median() <= s.max());
        // per call, the detail keeps a real measurement: the lower of the two middle ones for an even count
        EpReplay.Timings even = new EpReplay.Timings(new LayerTiming[][]{{timing(30), timing(10), timing(20), timing(40)}});
        assertEquals(20, even.median(0).criticalPathNanos());
        assertEquals(25e-9, even.epSeconds(), 1e-18, "over repeats: the mean of the two middle sums");
        assertEquals(200, none.median(0).criticalPathNanos());
    }

    @Test
    void policiesMustHaveRecordedTheSameLayers() {
        Routing routing = TestRoutings.random(T, E, K, TestRoutings.uniform(E), 2);
        float[] x = TestRoutings.activations(T, H, 1);
        List<List<EpReplay.Call>> calls = List.of(List.of(new EpReplay.Call(0, experts, x, routing)),
                List.of(new EpReplay.Call(1, experts, x, routing)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EpReplay.time(calls,
                Devices.contiguous(E, 2), EpMode.TIMED_SERIAL, new CommModel(0, 2), d -> CoreShare.unbound(), 1, 0, EpReplay.Progress.NONE));
        assertTrue(e.getMessage().contains("call 0 is layer 1 for policy 1 but layer 0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EpReplay.time(List.of(calls.getFirst(), List.of()),
                Devices.contiguous(E, 2), EpMode.TIMED_SERIAL, new CommModel(0, 2), d -> CoreShare.unbound(), 1, 0, EpReplay.Progress.NONE));
        assertThrows(IllegalArgumentException.class, () -> EpReplay.time(calls,
                Devices.contiguous(E, 2), EpMode.TIMED_SERIAL, new CommModel(0, 2), d -> CoreShare.unbound(), 0, 0, EpReplay.Progress.NONE));
    }

    static LayerTiming timing(long nanos) {
        return new LayerTiming(0, EpMode.TIMED_SERIAL, 1, new long[]{nanos, nanos / 2}, nanos + nanos / 2, new int[]{1, 1}, 0, 0);
    }

    static int[] devicePairs(Routing routing, Devices devices) {
        int[] pairs = new int[devices.count()];
        for (int p = 0; p < routing.keptPairs(); p++) pairs[devices.deviceOf(routing.expertIds()[p])]++;
        return pairs;
    }
}
