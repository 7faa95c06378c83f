package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The gating front-ends against hand-computed cases following HF transformers 5 (Mixtral /
 * Qwen-MoE / OLMoE softmax top-k, DeepSeek-V2 greedy and group_limited_greedy, DeepSeek-V3
 * noaux_tc). Expected weights are computed here in double from the formulas; the router works in
 * float32, so they agree to ~1e-7: tolerance 1e-6.
 */
class GatingTest {
    static final double TOL = 1e-6;

    static double[] softmax(double... x) {
        double max = Arrays.stream(x).max().orElseThrow(), sum = 0;
        double[] p = new double[x.length];
        for (int i = 0; i < x.length; i++) sum += p[i] = Math.exp(x[i] - max);
        for (int i = 0; i < x.length; i++) p[i] /= sum;
        return p;
    }

    static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    static float[] f(double... v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (float) v[i];
        return out;
    }

    static Routing route(RouterConfig config, double... logits) {
        return new Router(config, new Policy.None(), null).route(f(logits), logits.length / config.experts());
    }

    static void assertToken(Routing r, int t, int[] experts, double[] weights) {
        int[] got = Arrays.copyOfRange(r.expertIds(), r.offsets()[t], r.offsets()[t + 1]);
        assertArrayEquals(experts, got, "experts of token " + t);
        for (int i = 0; i < experts.length; i++) {
            assertEquals(weights[i], r.weights()[r.offsets()[t] + i], TOL, "weight of token " + t + ", expert " + experts[i]);
        }
    }

    @Test
    void softmaxTopKKeepsRawProbabilitiesWithoutNormTopkProb() {
        // OLMoE / Qwen2-MoE (norm_topk_prob=false): softmax over all experts, top-2 = experts 2, 1
        double[] p = softmax(1, 2, 3, 0);
        Routing r = route(RouterConfig.softmax(4, 2, false), 1, 2, 3, 0);
        assertToken(r, 0, new int[] {1, 2}, new double[] {p[1], p[2]});
    }

    @Test
    void softmaxTopKRenormalisesWithNormTopkProb() {
        // Mixtral (always) / Qwen3-MoE (norm_topk_prob=true): weights divided by their sum
        double[] p = softmax(1, 2, 3, 0, -1, 0.5);
        double s = p[1] + p[2];
        Routing r = route(RouterConfig.softmax(3, 2, true), 1, 2, 3, 0, -1, 0.5);
        assertToken(r, 0, new int[] {1, 2}, new double[] {p[1] / s, p[2] / s});
        double[] q = softmax(0, -1, 0.5);
        double sq = q[0] + q[2];
        assertToken(r, 1, new int[] {0, 2}, new double[] {q[0] / sq, q[2] / sq});
    }

    @Test
    void deepseekV2GreedyIsSoftmaxTopKTimesRoutedScalingFactor() {
        double[] x = {3.0, 0.0, 2.9, 2.0, 0.1, 0.2, 1.0, 2.7};
        double[] p = softmax(x);
        var config = new RouterConfig(8, 3, new Gating.Softmax(), false, 16.0);
        assertToken(route(config, x), 0, new int[] {0, 2, 7}, new double[] {16 * p[0], 16 * p[2], 16 * p[7]});
    }

    @Test
    void deepseekV2GroupLimitedGreedyRanksGroupsByTheirMaxScore() {
        // groups of 2: g0={0,1} max 3.0, g1={2,3} max 2.9, g2={4,5} max 0.2, g3={6,7} max 2.7.
        // topk_group=2 keeps g0, g1; top-3 inside = 0, 2, 3 (greedy would take 7 instead of 3).
        double[] x = {3.0, 0.0, 2.9, 2.0, 0.1, 0.2, 1.0, 2.7};
        double[] p = softmax(x);
        var config = new RouterConfig(8, 3, new Gating.SoftmaxGroupLimited(4, 2), false, 1.0);
        assertToken(route(config, x), 0, new int[] {0, 2, 3}, new double[] {p[0], p[2], p[3]});
    }

    @Test
    void deepseekV3SelectsOnBiasedSumOfTop2PerGroupButWeighsUnbiased() {
        // sigmoid:  .881 .119 .731 .711 .500 .550 .269 .818
        // +bias:    .881 .119 .731 .711 1.00 .950 .269 .318
        // group sums of top-2 (groups of 2): g0 1.00, g1 1.44, g2 1.95, g3 .587 -> keep g2, g1
        // (ranking groups by max would keep g2, g0). top-2 biased inside: 4, 5 (unbiased top-2: 0, 7).
        double[] x = {2.0, -2.0, 1.0, 0.9, 0.0, 0.2, -1.0, 1.5};
        float[] bias = {0, 0, 0, 0, 0.5f, 0.4f, 0, -0.5f};
        var config = new RouterConfig(8, 2, new Gating.SigmoidGroupLimited(4, 2, bias), true, 2.5);
        double s4 = sigmoid(0.0), s5 = sigmoid(0.2), denom = s4 + s5 + 1e-20;
        assertToken(route(config, x), 0, new int[] {4, 5}, new double[] {s4 / denom * 2.5, s5 / denom * 2.5});
    }

    @Test
    void deepseekV3WithoutNormTopkProbOnlyScales() {
        double[] x = {2.0, -2.0, 1.0, 0.9, 0.0, 0.2, -1.0, 1.5};
        float[] bias = new float[8];
        var config = new RouterConfig(8, 2, new Gating.SigmoidGroupLimited(1, 1, bias), false, 2.5);
        assertToken(route(config, x), 0, new int[] {0, 7}, new double[] {2.5 * sigmoid(2.0), 2.5 * sigmoid(1.5)});
    }

    @Test
    void deepseekV3MasksDiscardedGroupsToZeroLikeHF() {
        // HF fills the discarded groups' biased scores with 0.0, not -inf. With a bias that makes
        // every biased score negative, the zeros of the discarded group win the final top-k.
        // groups {0,1} (biased sum -0.62) and {2,3} (-1.62): keeps {0,1}, yet selects 2 and 3.
        double[] x = {1.0, 0.5, -1.0, -0.5};
        float[] bias = {-1, -1, -1, -1};
        var config = new RouterConfig(4, 2, new Gating.SigmoidGroupLimited(2, 1, bias), false, 1.0);
        assertToken(route(config, x), 0, new int[] {2, 3}, new double[] {sigmoid(-1.0), sigmoid(-0.5)});
    }

    @Test
    void capacityPoliciesRankByTheUnbiasedScoreAndRenormaliseOverKeptExperts() {
        // DeepSeek-V3 style, no groups, top-2 of 3 experts, 4 tokens -> C = ceil(1.0*2*4/3) = 3.
        // Expert 0 is chosen by all 4 tokens thanks to its bias, expert 1 too as their second choice;
        // score@1.0 keeps the 3 tokens with the highest UNBIASED sigmoid score: expert 0 drops
        // token 3 (logit -3), expert 1 drops token 0 (logit 0.0, the lowest of 0.0, 0.5, 1.0, 0.2).
        double[] x = {
                1.0, 0.0, -1.0,
                2.0, 0.5, 0.0,
                0.0, 1.0, 0.5,
                -3.0, 0.2, 0.1};
        float[] bias = {10, 0, 0};
        var config = new RouterConfig(3, 2, new Gating.SigmoidGroupLimited(bias), true, 2.0);
        Routing r = new Router(config, new Policy.TokenDrop(Scorer.SCORE, 1.0), null).route(f(x), 4);
        assertEquals(3, r.stats().capacity());
        assertArrayEquals(new int[] {4, 4, 0}, r.stats().loadBefore());
        assertArrayEquals(new int[] {3, 3, 0}, r.stats().loadAfter());
        // a token's single kept expert is renormalised to 1, then scaled by 2
        assertToken(r, 3, new int[] {1}, new double[] {2.0});
        assertToken(r, 0, new int[] {0}, new double[] {2.0});
        double a = sigmoid(2.0), b = sigmoid(0.5);
        assertToken(r, 1, new int[] {0, 1}, new double[] {2 * a / (a + b), 2 * b / (a + b)});
    }

    @Test
    void routeProbabilitiesAppliesTheGatingChoiceRules() {
        // The same V3 case given as sigmoid scores instead of logits gives the same routing.
        double[] x = {2.0, -2.0, 1.0, 0.9, 0.0, 0.2, -1.0, 1.5};
        float[] bias = {0, 0, 0, 0, 0.5f, 0.4f, 0, -0.5f};
        var config = new RouterConfig(8, 2, new Gating.SigmoidGroupLimited(4, 2, bias), true, 2.5);
        double[] s = Arrays.stream(x).map(GatingTest::sigmoid).toArray();
        Routing fromLogits = route(config, x);
        Routing fromScores = new Router(config, new Policy.None(), null).routeProbabilities(f(s), 1, null);
        assertArrayEquals(fromLogits.expertIds(), fromScores.expertIds());
        assertArrayEquals(fromLogits.weights(), fromScores.weights(), 1e-6f);
    }

    @Test
    void tiesGoToTheLowerExpertIndex() {
        Routing r = route(RouterConfig.softmax(4, 2, false), 1, 1, 1, 1);
        assertToken(r, 0, new int[] {0, 1}, new double[] {0.25, 0.25});
    }

    /**
     * Softmax(ggml): the kept weights are {@link GgmlMath#softmax}'s probabilities bit for bit (the
     * arithmetic GgmlOpsTest checks against llama.cpp's own router), within 1e-6 of float64 too,
     * 32 experts top-4 (two 16-lane blocks) and 20 experts (one block and a tail).
     */
    @Test
    void ggmlSoftmaxWeightsAreGgmlMathsBits() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        for (int experts : new int[] {32, 20}) {
            int tokens = 7, k = 4;
            float[] logits = new float[tokens * experts];
            for (int i = 0; i < logits.length; i++) logits[i] = (float) (rnd.nextGaussian() * 3);
            Routing r = new Router(new RouterConfig(experts, k, new Gating.Softmax(true), false, 1.0), new Policy.None(), null)
                    .route(logits, tokens);
            float[] probs = logits.clone(), lanes = new float[16];
            for (int t = 0; t < tokens; t++) GgmlMath.softmax(probs, t * experts, experts, experts, 1f, lanes);
            for (int t = 0; t < tokens; t++) {
                double[] x = new double[experts];
                for (int e = 0; e < experts; e++) x[e] = logits[t * experts + e];
                double[] p = softmax(x);
                assertEquals(k, r.keptCount(t));
                for (int i = r.offsets()[t]; i < r.offsets()[t + 1]; i++) {
                    int e = r.expertIds()[i];
                    assertEquals(Float.floatToIntBits(probs[t * experts + e]), Float.floatToIntBits(r.weights()[i]), "token " + t + " expert " + e);
                    assertEquals(p[e], r.weights()[i], TOL);
                }
            }
        }
        assertNotEquals(new Gating.Softmax(), new Gating.Softmax(true));
        assertEquals(new Gating.Softmax(), new Gating.Softmax(false));
    }
}
