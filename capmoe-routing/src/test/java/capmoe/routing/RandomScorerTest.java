package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Token Drop with the {@code random} scorer: exact counts, reproducibility, uniformity. */
class RandomScorerTest {

    static Routing randomDrop(float[] logits, int tokens, int experts, int k, double gamma, long seed) {
        return new Router(RouterConfig.softmax(experts, k, false), new Policy.TokenDrop(Scorer.RANDOM, gamma, seed), null)
                .route(logits, tokens);
    }

    @Test
    void keepsExactlyCPerOverloadedExpertAndOnlyAssignedTokens() {
        int T = 512, E = 16, k = 4;
        float[] logits = RoutingSample.skewed(T, E, 7).logits();
        Routing none = new Router(RouterConfig.softmax(E, k, false), new Policy.None(), null).route(logits, T);
        for (long seed = 0; seed < 20; seed++) {
            Routing r = randomDrop(logits, T, E, k, 1.0, seed);
            RoutingStats st = r.stats();
            int overloaded = 0;
            for (int e = 0; e < E; e++) {
                if (st.loadBefore()[e] > st.capacity()) overloaded++;
                assertEquals(Math.min(st.loadBefore()[e], st.capacity()), st.loadAfter()[e], "expert " + e);
            }
            assertTrue(overloaded >= 2, "the skewed sample should overload several experts, got " + overloaded);
            for (int t = 0; t < T; t++) {
                int[] top = Arrays.copyOfRange(none.expertIds(), none.offsets()[t], none.offsets()[t + 1]);
                for (int i = r.offsets()[t]; i < r.offsets()[t + 1]; i++) {
                    int e = r.expertIds()[i];
                    assertTrue(Arrays.binarySearch(top, e) >= 0, "token " + t + " kept " + e + " it was not assigned to");
                }
            }
        }
    }

    @Test
    void reproducibleForASeedAndDifferentAcrossSeeds() {
        int T = 256, E = 8, k = 2;
        float[] logits = RoutingSample.skewed(T, E, 3).logits();
        Routing a = randomDrop(logits, T, E, k, 0.5, 42), b = randomDrop(logits, T, E, k, 0.5, 42);
        assertArrayEquals(a.offsets(), b.offsets());
        assertArrayEquals(a.expertIds(), b.expertIds());
        assertArrayEquals(a.weights(), b.weights());
        Routing c = randomDrop(logits, T, E, k, 0.5, 43);
        assertFalse(Arrays.equals(a.expertIds(), c.expertIds()) && Arrays.equals(a.offsets(), c.offsets()),
                "seeds 42 and 43 chose the same tokens out of C(n, C) ~ 1e70 subsets");
    }

    @Test
    void aRoutersCallsFollowOneSeededStream() {
        int T = 256, E = 8, k = 2;
        float[] logits = RoutingSample.skewed(T, E, 3).logits();
        Router r1 = new Router(RouterConfig.softmax(E, k, false), new Policy.TokenDrop(Scorer.RANDOM, 0.5, 9), null);
        Router r2 = new Router(RouterConfig.softmax(E, k, false), new Policy.TokenDrop(Scorer.RANDOM, 0.5, 9), null);
        Routing first = r1.route(logits, T), second = r1.route(logits, T);
        assertFalse(Arrays.equals(first.expertIds(), second.expertIds()) && Arrays.equals(first.offsets(), second.offsets()),
                "the second call draws on from the stream");
        assertArrayEquals(first.expertIds(), r2.route(logits, T).expertIds());
        assertArrayEquals(second.expertIds(), r2.route(logits, T).expertIds());
    }

    /** Each MoE layer gets its own stream (the engine passes the layer index): layers draw independently. */
    @Test
    void streamsOfOneSeedDrawIndependentlyAndReproducibly() {
        int T = 256, E = 8, k = 2;
        float[] logits = RoutingSample.skewed(T, E, 3).logits();
        Policy random = new Policy.TokenDrop(Scorer.RANDOM, 0.5, 9);
        RouterConfig config = RouterConfig.softmax(E, k, false);
        Routing layer0 = new Router(config, random, null, 0).route(logits, T);
        Routing layer1 = new Router(config, random, null, 1).route(logits, T);
        assertArrayEquals(new Router(config, random, null).route(logits, T).expertIds(), layer0.expertIds(),
                "stream 0 is the plain constructor's");
        assertFalse(Arrays.equals(layer0.expertIds(), layer1.expertIds()) && Arrays.equals(layer0.offsets(), layer1.offsets()),
                "streams 0 and 1 kept the same tokens");
        assertArrayEquals(layer1.expertIds(), new Router(config, random, null, 1).route(logits, T).expertIds());
    }

    /**
     * All 32 tokens pick expert 0 (top-1 of 4), C = ceil(1.0*1*32/4) = 8, so each seed keeps 8 of
     * the 32. Over S = 4000 seeds each token is kept 1000 times in expectation. Pearson's statistic
     * sum (O-1000)^2/1000 is asymptotically chi-square with 31 degrees of freedom (slightly less
     * spread here, as every draw keeps exactly 8), so a uniform sampler exceeds 83.64 with
     * probability below 1e-6. The seeds are fixed, so the outcome is deterministic.
     */
    @Test
    void uniformOverTokensAcrossSeeds() {
        int T = 32, E = 4, S = 4000;
        float[] logits = new float[T * E];
        for (int t = 0; t < T; t++) logits[t * E] = 2f + 0.01f * t; // expert 0 first for all, with distinct scores
        long[] kept = new long[T];
        for (long seed = 0; seed < S; seed++) {
            Routing r = randomDrop(logits, T, E, 1, 1.0, seed);
            assertEquals(8, r.keptPairs());
            for (int t = 0; t < T; t++) if (r.keptCount(t) == 1) kept[t]++;
        }
        double expected = S * 8.0 / T, chi2 = 0;
        for (long o : kept) chi2 += (o - expected) * (o - expected) / expected;
        assertTrue(chi2 < 83.64, "chi-square " + chi2 + " >= 83.64 (df 31, p = 1e-6): not uniform, counts " + Arrays.toString(kept));
        // and it is not simply 'score' or 'order' in disguise: the best and the first token are not always kept
        assertTrue(kept[T - 1] < S && kept[0] < S);
    }
}
