package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Invariants of every capacity policy on many seeded, skewed routing samples of varied shape
 * (E in {4, 8, 16, 64}, k in 1..min(8,E), T in 1..300, gamma in {0.25 .. 2}, D dividing E).
 * Top-k is re-derived here by sorting each token's probabilities, independently of the router.
 */
class CapacityPropertiesTest {
    static final int SAMPLES = 120;
    static final double[] GAMMAS = {0.25, 0.5, 1.0, 1.5, 2.0};

    /** One random shape and its skewed probabilities. */
    record Sample(int tokens, int experts, int k, double gamma, Placement placement, float[] logits, float[] probs) {
        static Sample draw(long seed) {
            SplittableRandom rng = new SplittableRandom(seed);
            int E = new int[] {4, 8, 16, 64}[rng.nextInt(4)];
            int k = 1 + rng.nextInt(Math.min(8, E));
            int T = 1 + rng.nextInt(300);
            double gamma = GAMMAS[rng.nextInt(GAMMAS.length)];
            int D = E / (1 << rng.nextInt(Integer.numberOfTrailingZeros(E) + 1));
            float[] logits = RoutingSample.skewed(T, E, seed).logits();
            float[] probs = new float[T * E]; // softmax in double, rounded once
            for (int t = 0; t < T; t++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int e = 0; e < E; e++) max = Math.max(max, logits[t * E + e]);
                for (int e = 0; e < E; e++) sum += Math.exp(logits[t * E + e] - max);
                for (int e = 0; e < E; e++) probs[t * E + e] = (float) (Math.exp(logits[t * E + e] - max) / sum);
            }
            return new Sample(T, E, k, gamma, Placement.contiguous(E, D), logits, probs);
        }

        Routing route(Policy policy) {
            return new Router(RouterConfig.softmax(experts, k, false), policy, placement).routeProbabilities(probs, tokens, null);
        }

        /** C = ceil(gamma * k * T/E), at most T (an expert holds each token once). */
        int capacity() { return (int) Math.min(Math.ceil(gamma * k * ((double) tokens / experts)), tokens); }

        /** Token t's top-k experts by probability (ties: lower index), via a full sort. */
        int[] topK(int t) {
            Integer[] ids = new Integer[experts];
            for (int e = 0; e < experts; e++) ids[e] = e;
            Arrays.sort(ids, (a, b) -> {
                int c = Float.compare(probs[t * experts + b], probs[t * experts + a]);
                return c != 0 ? c : Integer.compare(a, b);
            });
            int[] top = new int[k];
            for (int j = 0; j < k; j++) top[j] = ids[j];
            Arrays.sort(top);
            return top;
        }

        float prob(int t, int e) { return probs[t * experts + e]; }

        String describe() {
            return "T=" + tokens + " E=" + experts + " k=" + k + " gamma=" + gamma + " D=" + placement.devices();
        }
    }

    static List<Sample> samples() {
        List<Sample> out = new ArrayList<>();
        for (long s = 0; s < SAMPLES; s++) out.add(Sample.draw(1000 + s));
        return out;
    }

    static int[] kept(Routing r, int t) {
        return Arrays.copyOfRange(r.expertIds(), r.offsets()[t], r.offsets()[t + 1]);
    }

    static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }

    static double keptWeight(Routing r) {
        double s = 0;
        for (float w : r.weights()) s += w;
        return s;
    }

    static List<Policy> capacityPolicies(double gamma) {
        return List.of(new Policy.TokenDrop(Scorer.SCORE, gamma), new Policy.TokenDrop(Scorer.ORDER, gamma),
                new Policy.TokenDrop(Scorer.REVERSE, gamma), new Policy.TokenDrop(Scorer.RANDOM, gamma, 5),
                new Policy.ExpandedDrop(gamma), new Policy.ExpandedOrigin(gamma), new Policy.DeviceCapacity(gamma));
    }

    @Test
    void noneIsPlainTopKWithRawProbabilities() {
        for (Sample s : samples()) {
            Routing r = s.route(new Policy.None());
            for (int t = 0; t < s.tokens(); t++) {
                assertArrayEquals(s.topK(t), kept(r, t), s.describe() + " token " + t);
                for (int i = r.offsets()[t]; i < r.offsets()[t + 1]; i++) {
                    assertEquals(s.prob(t, r.expertIds()[i]), r.weights()[i], s.describe());
                }
            }
            assertEquals(0, r.stats().droppedPairs());
            assertArrayEquals(r.stats().loadBefore(), r.stats().loadAfter());
        }
    }

    @Test
    void noExpertExceedsCapacityAfterAnyPerExpertPolicy() {
        for (Sample s : samples()) {
            for (Policy p : capacityPolicies(s.gamma())) {
                if (p instanceof Policy.DeviceCapacity) continue;
                RoutingStats st = s.route(p).stats();
                assertEquals(s.capacity(), st.capacity(), s.describe());
                for (int e = 0; e < s.experts(); e++) {
                    assertTrue(st.loadAfter()[e] <= st.capacity(),
                            p.label() + " " + s.describe() + ": expert " + e + " keeps " + st.loadAfter()[e] + " > C=" + st.capacity());
                }
            }
        }
    }

    @Test
    void tokenDropKeepsExactlyMinOfLoadAndCapacityAndOnlyTopKPairs() {
        for (Sample s : samples()) {
            for (Scorer scorer : Scorer.values()) {
                Routing r = s.route(new Policy.TokenDrop(scorer, s.gamma(), 3));
                RoutingStats st = r.stats();
                for (int e = 0; e < s.experts(); e++) {
                    assertEquals(Math.min(st.loadBefore()[e], st.capacity()), st.loadAfter()[e], scorer + " " + s.describe());
                }
                for (int t = 0; t < s.tokens(); t++) {
                    int[] top = s.topK(t);
                    for (int e : kept(r, t)) assertTrue(contains(top, e), scorer + ": token " + t + " kept " + e + " outside its top-k");
                }
                assertEquals((long) s.tokens() * s.k() - r.keptPairs(), st.droppedPairs());
                assertEquals(0, st.addedPairs());
            }
        }
    }

    @Test
    void scoreKeepsTheHighestScoredTokensOfEachExpert() {
        for (Sample s : samples()) {
            Routing r = s.route(new Policy.TokenDrop(Scorer.SCORE, s.gamma()));
            float[] minKept = new float[s.experts()], maxDropped = new float[s.experts()];
            Arrays.fill(minKept, Float.POSITIVE_INFINITY);
            Arrays.fill(maxDropped, Float.NEGATIVE_INFINITY);
            for (int t = 0; t < s.tokens(); t++) {
                int[] k = kept(r, t);
                for (int e : s.topK(t)) {
                    if (contains(k, e)) minKept[e] = Math.min(minKept[e], s.prob(t, e));
                    else maxDropped[e] = Math.max(maxDropped[e], s.prob(t, e));
                }
            }
            for (int e = 0; e < s.experts(); e++) {
                assertTrue(maxDropped[e] <= minKept[e], s.describe() + ": expert " + e + " dropped " + maxDropped[e] + " but kept " + minKept[e]);
            }
        }
    }

    @Test
    void orderKeepsTheEarliestAndReverseTheLatestTokens() {
        for (Sample s : samples()) {
            Routing order = s.route(new Policy.TokenDrop(Scorer.ORDER, s.gamma()));
            Routing reverse = s.route(new Policy.TokenDrop(Scorer.REVERSE, s.gamma()));
            int[] lastKeptOrder = new int[s.experts()], firstDroppedOrder = new int[s.experts()];
            int[] firstKeptReverse = new int[s.experts()], lastDroppedReverse = new int[s.experts()];
            Arrays.fill(lastKeptOrder, -1);
            Arrays.fill(firstDroppedOrder, Integer.MAX_VALUE);
            Arrays.fill(firstKeptReverse, Integer.MAX_VALUE);
            Arrays.fill(lastDroppedReverse, -1);
            for (int t = 0; t < s.tokens(); t++) {
                for (int e : s.topK(t)) {
                    if (contains(kept(order, t), e)) lastKeptOrder[e] = t;
                    else firstDroppedOrder[e] = Math.min(firstDroppedOrder[e], t);
                    if (contains(kept(reverse, t), e)) firstKeptReverse[e] = Math.min(firstKeptReverse[e], t);
                    else lastDroppedReverse[e] = t;
                }
            }
            for (int e = 0; e < s.experts(); e++) {
                assertTrue(lastKeptOrder[e] < firstDroppedOrder[e], "order " + s.describe() + " expert " + e);
                assertTrue(lastDroppedReverse[e] < firstKeptReverse[e], "reverse " + s.describe() + " expert " + e);
            }
        }
    }

    @Test
    void scoreKeepsAtLeastTheWeightThatOrderKeeps() {
        for (Sample s : samples()) {
            double score = keptWeight(s.route(new Policy.TokenDrop(Scorer.SCORE, s.gamma())));
            double order = keptWeight(s.route(new Policy.TokenDrop(Scorer.ORDER, s.gamma())));
            double reverse = keptWeight(s.route(new Policy.TokenDrop(Scorer.REVERSE, s.gamma())));
            // per expert, score keeps the C largest of the same candidates; 1e-4 covers float sums
            assertTrue(score >= order - 1e-4, s.describe() + ": score " + score + " < order " + order);
            assertTrue(score >= reverse - 1e-4, s.describe() + ": score " + score + " < reverse " + reverse);
        }
    }

    @Test
    void deviceCapacityBoundsEachDeviceAndKeepsItsBestPairs() {
        for (Sample s : samples()) {
            Routing r = s.route(new Policy.DeviceCapacity(s.gamma()));
            RoutingStats st = r.stats();
            int[] n = s.placement().expertsPerDevice();
            for (int d = 0; d < n.length; d++) {
                long limit = (long) n[d] * st.capacity();
                assertEquals(Math.min(st.deviceLoadBefore()[d], limit), st.deviceLoadAfter()[d], s.describe() + " device " + d);
            }
            float[] minKept = new float[n.length], maxDropped = new float[n.length];
            Arrays.fill(minKept, Float.POSITIVE_INFINITY);
            Arrays.fill(maxDropped, Float.NEGATIVE_INFINITY);
            for (int t = 0; t < s.tokens(); t++) {
                for (int e : s.topK(t)) {
                    int d = s.placement().device(e);
                    if (contains(kept(r, t), e)) minKept[d] = Math.min(minKept[d], s.prob(t, e));
                    else maxDropped[d] = Math.max(maxDropped[d], s.prob(t, e));
                }
            }
            for (int d = 0; d < n.length; d++) assertTrue(maxDropped[d] <= minKept[d], s.describe() + " device " + d);
        }
    }

    @Test
    void infiniteOrHugeGammaEqualsNone() {
        for (Sample s : samples()) {
            Routing none = s.route(new Policy.None());
            for (double gamma : new double[] {Double.POSITIVE_INFINITY, 1e12}) {
                for (Policy p : List.of(new Policy.TokenDrop(Scorer.SCORE, gamma), new Policy.TokenDrop(Scorer.ORDER, gamma),
                        new Policy.TokenDrop(Scorer.REVERSE, gamma), new Policy.TokenDrop(Scorer.RANDOM, gamma, 1),
                        new Policy.DeviceCapacity(gamma))) {
                    Routing r = s.route(p);
                    assertArrayEquals(none.offsets(), r.offsets(), p.label());
                    assertArrayEquals(none.expertIds(), r.expertIds(), p.label());
                    assertArrayEquals(none.weights(), r.weights(), p.label());
                }
            }
        }
    }

    @Test
    void expandedKeepsOnlyTopKOrLocalCandidates() {
        for (Sample s : samples()) {
            Policy.ExpandedDrop p = new Policy.ExpandedDrop(s.gamma());
            int[] local = p.localExpertsFor(s.experts());
            Routing r = s.route(p);
            long added = 0;
            for (int t = 0; t < s.tokens(); t++) {
                int[] top = s.topK(t);
                for (int e : kept(r, t)) {
                    assertTrue(contains(top, e) || contains(local, e), "token " + t + " kept " + e);
                    if (!contains(top, e)) added++;
                }
            }
            assertEquals(added, r.stats().addedPairs());
        }
    }

    @Test
    void expandedOriginAddsTheBestExpertsOfTheOriginDevice() {
        for (Sample s : samples()) {
            int m = Math.max(1, s.k() / 2);
            Routing r = s.route(new Policy.ExpandedOrigin(Double.POSITIVE_INFINITY, m));
            int D = s.placement().devices();
            for (int t = 0; t < s.tokens(); t++) {
                int origin = (int) ((long) t * D / s.tokens());
                int[] top = s.topK(t);
                List<Integer> extras = new ArrayList<>();
                for (int e : kept(r, t)) if (!contains(top, e)) extras.add(e);
                List<Integer> candidates = new ArrayList<>();
                for (int e = 0; e < s.experts(); e++) if (s.placement().device(e) == origin && !contains(top, e)) candidates.add(e);
                final int tok = t;
                candidates.sort((a, b) -> Float.compare(s.prob(tok, b), s.prob(tok, a)));
                List<Integer> expected = new ArrayList<>(candidates.subList(0, Math.min(m, candidates.size())));
                expected.sort(null);
                assertEquals(expected, extras, s.describe() + " token " + t);
            }
        }
    }

    @Test
    void expertDropSkipsTheLeastLoadedExperts() {
        for (Sample s : samples()) {
            for (double rho : new double[] {0.0, 0.1, 0.25, 0.5, 1.0}) {
                Routing r = s.route(new Policy.ExpertDrop(rho));
                RoutingStats st = r.stats();
                int drop = (int) Math.floor(rho * s.experts());
                Integer[] byLoad = new Integer[s.experts()];
                for (int e = 0; e < s.experts(); e++) byLoad[e] = e;
                Arrays.sort(byLoad, (a, b) -> st.loadBefore()[a] != st.loadBefore()[b]
                        ? Integer.compare(st.loadBefore()[a], st.loadBefore()[b]) : Integer.compare(a, b));
                for (int i = 0; i < s.experts(); i++) {
                    int e = byLoad[i];
                    assertEquals(i < drop ? 0 : st.loadBefore()[e], st.loadAfter()[e], "rho=" + rho + " " + s.describe() + " expert " + e);
                }
            }
        }
    }

    @Test
    void statsAreConsistent() {
        for (Sample s : samples()) {
            for (Policy p : capacityPolicies(s.gamma())) {
                Routing r = s.route(p);
                RoutingStats st = r.stats();
                assertEquals((long) s.tokens() * s.k(), st.pairsBefore());
                assertEquals(r.keptPairs(), st.pairsAfter());
                assertEquals(st.pairsBefore() - st.droppedPairs() + st.addedPairs(), st.pairsAfter(), p.label());
                int empty = 0;
                for (int t = 0; t < s.tokens(); t++) if (r.keptCount(t) == 0) empty++;
                assertEquals(empty, st.tokensWithoutExperts());
                int[] dev = new int[s.placement().devices()];
                for (int e = 0; e < s.experts(); e++) dev[s.placement().device(e)] += st.loadAfter()[e];
                assertArrayEquals(dev, st.deviceLoadAfter());
                for (int t = 0; t < s.tokens(); t++) {
                    int[] k = kept(r, t);
                    for (int i = 1; i < k.length; i++) assertTrue(k[i - 1] < k[i], "experts ascending per token");
                }
            }
        }
    }
}
