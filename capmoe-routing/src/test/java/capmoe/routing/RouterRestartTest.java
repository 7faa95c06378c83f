package capmoe.routing;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * {@link Router#restart}: a Router kept across calls (its scratch reused) and restarted before
 * each routes every call exactly as a fresh Router does, random draws included; without the
 * restart the random stream runs on (so the test can tell the two apart).
 */
class RouterRestartTest {

    private static void assertSame(Routing a, Routing b, String what) {
        assertArrayEquals(a.offsets(), b.offsets(), what + ": offsets");
        assertArrayEquals(a.expertIds(), b.expertIds(), what + ": experts");
        assertArrayEquals(a.weights(), b.weights(), what + ": weights");
        assertEquals(a.stats().capacity(), b.stats().capacity(), what + ": capacity");
    }

    @Test
    void aRestartedRouterRoutesAsAFreshOne() {
        int E = 16, k = 4;
        RouterConfig config = RouterConfig.softmax(E, k, false);
        for (Policy policy : new Policy[] {new Policy.TokenDrop(Scorer.RANDOM, 0.5, 11), new Policy.TokenDrop(Scorer.SCORE, 1.0),
                new Policy.None(), new Policy.ExpandedDrop(1.5)}) {
            Router kept = new Router(config, policy, null, 3);
            // calls of different sizes: the kept Router's scratch is larger than a later call needs
            int[] sizes = {256, 7, 64, 1, 300};
            for (int i = 0; i < sizes.length; i++) {
                float[] logits = RoutingSample.skewed(sizes[i], E, 20 + i).logits();
                kept.restart();
                Routing reused = kept.route(logits, sizes[i]);
                Routing fresh = new Router(config, policy, null, 3).route(logits, sizes[i]);
                assertSame(fresh, reused, policy.label() + " call " + i);
            }
        }
    }

    @Test
    void withoutARestartTheRandomStreamRunsOn() {
        int E = 16, k = 4, T = 256;
        RouterConfig config = RouterConfig.softmax(E, k, false);
        Policy random = new Policy.TokenDrop(Scorer.RANDOM, 0.5, 11);
        float[] logits = RoutingSample.skewed(T, E, 5).logits();
        Router kept = new Router(config, random, null, 0);
        Routing first = kept.route(logits, T), second = kept.route(logits, T);
        assertFalse(java.util.Arrays.equals(first.expertIds(), second.expertIds()), "a second call draws other random numbers");
        kept.restart();
        assertSame(first, kept.route(logits, T), "after restart");
    }
}
