package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Router#tokenRanges}: with the gate scores and top-k of a call run over token ranges on
 * other threads (uneven ranges, finished in any order), every call routes exactly as a serial
 * Router does (kept pairs and weights bit for bit, the stats), for softmax gating in capmoe's and in
 * llama.cpp's arithmetic, over policies and call sizes on both sides of {@link Router#PARALLEL_TOKENS}.
 */
class RouterTokenRangesTest {

    /** Ranges of 1, 2, 3, ... tokens, each on a thread of its own, started last range first. */
    private static final class Threads implements Router.TokenRanges {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public void run(int n, long workPerItem, Range body) {
            calls.incrementAndGet();
            assertTrue(workPerItem > 0, "work per token");
            List<int[]> ranges = new ArrayList<>();
            for (int from = 0, size = 1; from < n; from += size, size++) ranges.add(new int[] {from, Math.min(n, from + size)});
            List<Thread> threads = new ArrayList<>();
            for (int i = ranges.size() - 1; i >= 0; i--) {
                int[] r = ranges.get(i);
                threads.add(Thread.ofPlatform().start(() -> body.run(r[0], r[1])));
            }
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            }
        }
    }

    @Test
    void rangesOnOtherThreadsRouteAsTheSerialRouter() {
        int E = 32, k = 4;
        Placement placement = Placement.contiguous(E, 2);
        for (RouterConfig config : new RouterConfig[] {RouterConfig.softmax(E, k, false), RouterConfig.softmax(E, k, true),
                new RouterConfig(E, k, new Gating.Softmax(true), false, 1.0)}) {
            for (String p : new String[] {"none", "position@1.0", "expanded@1.5", "expert_drop@0.1"}) {
                Policy policy = Policy.parse(p);
                Threads threads = new Threads();
                Router ranged = new Router(config, policy, placement, 3).tokenRanges(threads);
                Router serial = new Router(config, policy, placement, 3);
                int[] sizes = {1, Router.PARALLEL_TOKENS - 1, Router.PARALLEL_TOKENS, 300, 7, 512};
                int parallelCalls = 0;
                for (int i = 0; i < sizes.length; i++) {
                    float[] logits = RoutingSample.skewed(sizes[i], E, 90 + i).logits();
                    Routing a = serial.route(logits, sizes[i]), b = ranged.route(logits, sizes[i]);
                    String what = config.gating() + " " + p + " call " + i + " (" + sizes[i] + " tokens)";
                    assertArrayEquals(a.offsets(), b.offsets(), what + ": offsets");
                    assertArrayEquals(a.expertIds(), b.expertIds(), what + ": experts");
                    assertArrayEquals(a.weights(), b.weights(), what + ": weights");
                    assertArrayEquals(a.stats().loadBefore(), b.stats().loadBefore(), what + ": load before");
                    assertArrayEquals(a.stats().loadAfter(), b.stats().loadAfter(), what + ": load after");
                    assertEquals(Double.doubleToLongBits(a.stats().scoreBefore()), Double.doubleToLongBits(b.stats().scoreBefore()),
                            what + ": score before");
                    if (sizes[i] >= Router.PARALLEL_TOKENS) parallelCalls++;
                }
                assertEquals(parallelCalls, threads.calls.get(), "calls of at least PARALLEL_TOKENS tokens go to the ranges, others not");
            }
        }
    }
}
