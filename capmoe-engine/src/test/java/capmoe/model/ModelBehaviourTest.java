package capmoe.model;

import capmoe.model.nn.SparseMoeBlock;
import capmoe.routing.Policy;
import capmoe.routing.Routing;
import capmoe.runtime.Experts;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.testing.Shared;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static capmoe.model.SameMath.assertClose;
import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batching, the KV cache, the local executor, sampling and log-probabilities on the Qwen2-MoE
 * fixture (it has every feature: GQA, bias, shared expert). Same-math comparisons use 1e-5
 * relative to max|logit|: only the order of fp32 additions differs (cache vs no cache).
 */
class ModelBehaviourTest {
    static CausalLM model;

    @BeforeAll
    static void load() {
        model = Models.load(Shared.require("fixtures/hf/qwen2_moe"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void incrementalDecodeEqualsFullForward() {
        int[] seq = tokens(20, 384, 1);
        float[] full = model.forward(new int[][] {seq}, RunOptions.defaults())[0];
        Session s = model.newSession(1, RunOptions.defaults());
        int v = 384, done = 0;
        for (int chunk : new int[] {7, 1, 5, 1, 1, 5}) {
            float[] got = s.append(new int[][] {java.util.Arrays.copyOfRange(seq, done, done + chunk)})[0];
            assertClose(java.util.Arrays.copyOfRange(full, done * v, (done + chunk) * v), got, "chunk at " + done);
            done += chunk;
        }
        assertEquals(20, s.length(0));
    }

    @Test
    void paddedBatchEqualsEachSequenceAlone() {
        int[] a = tokens(13, 384, 2), b = tokens(4, 384, 3), c = tokens(9, 384, 4);
        float[][] together = model.forward(new int[][] {a, b, c}, RunOptions.defaults());
        assertClose(model.forward(new int[][] {a}, RunOptions.defaults())[0], together[0], "a");
        assertClose(model.forward(new int[][] {b}, RunOptions.defaults())[0], together[1], "b");
        assertClose(model.forward(new int[][] {c}, RunOptions.defaults())[0], together[2], "c");
        // a batched session with sequences at different lengths decodes like separate sessions
        Session s = model.newSession(2, RunOptions.defaults());
        s.append(new int[][] {a, b});
        float[][] next = s.appendLast(new int[][] {{7}, {8}});
        float[] aAlone = model.forward(new int[][] {concat(a, 7)}, RunOptions.defaults())[0];
        assertClose(java.util.Arrays.copyOfRange(aAlone, 13 * 384, 14 * 384), next[0], "a + 7");
    }

    static int[] concat(int[] a, int x) {
        int[] r = java.util.Arrays.copyOf(a, a.length + 1);
        r[a.length] = x;
        return r;
    }

    @Test
    void localExecutorEqualsTokenByTokenExperts() {
        SparseMoeBlock moe = (SparseMoeBlock) ((Decoder) model).layers().get(1).ffn();
        Experts experts = moe.experts();
        int t = 6, h = experts.hidden();
        float[] x = new float[t * h];
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        Routing routing = new capmoe.routing.Router(moe.routerConfig(), new Policy.None(), capmoe.routing.Placement.contiguous(16, 1))
                .route(moe.routerLogits(x, t), t);
        float[] grouped = new float[t * h];
        new LocalExpertExecutor().run(1, experts, x, routing, grouped);
        float[] y = new float[h];
        for (int tok = 0; tok < t; tok++) {
            float[] ref = new float[h];
            for (int p = routing.offsets()[tok]; p < routing.offsets()[tok + 1]; p++) {
                experts.apply(routing.expertIds()[p], java.util.Arrays.copyOfRange(x, tok * h, (tok + 1) * h), y, 1);
                for (int c = 0; c < h; c++) ref[c] += routing.weights()[p] * y[c];
            }
            assertClose(ref, java.util.Arrays.copyOfRange(grouped, tok * h, (tok + 1) * h), "token " + tok);
        }
    }

    @Test
    void samplingIsSeededAndTopPNearZeroIsGreedy() {
        int[] prompt = tokens(5, 384, 8);
        var hot = new Generator.Settings(10, 1.5, 0.9, 42, List.of());
        int[] a = Generator.generate(model, prompt, hot, RunOptions.defaults(), null);
        int[] b = Generator.generate(model, prompt, hot, RunOptions.defaults(), null);
        assertArrayEquals(a, b, "same seed, same tokens");
        int[] c = Generator.generate(model, prompt, new Generator.Settings(10, 1.5, 0.9, 43, List.of()), RunOptions.defaults(), null);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c), "another seed, another sample");
        int[] greedy = Generator.generate(model, prompt, Generator.Settings.greedy(10), RunOptions.defaults(), null);
        int[] nucleus = Generator.generate(model, prompt, new Generator.Settings(10, 1.0, 1e-9, 1, List.of()), RunOptions.defaults(), null);
        assertArrayEquals(greedy, nucleus, "top-p ~ 0 keeps only the most likely token");
        int[] stopped = Generator.generate(model, prompt, new Generator.Settings(10, 0, 1, 0, List.of(greedy[2])), RunOptions.defaults(), null);
        assertArrayEquals(java.util.Arrays.copyOf(greedy, 3), stopped, "generation ends after a stop token");
    }

    @Test
    void logProbsAreLogSoftmaxOfThePredictingPosition() {
        int[] ctx1 = tokens(6, 384, 9), cont1 = tokens(3, 384, 10), ctx2 = tokens(2, 384, 11), cont2 = tokens(5, 384, 12);
        double[][] lp = LogProbs.continuation(model, new int[][] {ctx1, ctx2}, new int[][] {cont1, cont2}, RunOptions.defaults());
        int[] full = new int[9];
        System.arraycopy(ctx1, 0, full, 0, 6);
        System.arraycopy(cont1, 0, full, 6, 3);
        float[] logits = model.forward(new int[][] {full}, RunOptions.defaults())[0];
        for (int j = 0; j < 3; j++) {
            int row = 5 + j;
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (int i = 0; i < 384; i++) max = Math.max(max, logits[row * 384 + i]);
            for (int i = 0; i < 384; i++) z += Math.exp(logits[row * 384 + i] - max);
            assertEquals(logits[row * 384 + cont1[j]] - max - Math.log(z), lp[0][j], 1e-4);
            assertTrue(lp[0][j] < 0);
        }
        assertEquals(5, lp[1].length);
        double[] sums = LogProbs.sum(model, new int[][] {ctx1}, new int[][] {cont1}, RunOptions.defaults());
        assertEquals(lp[0][0] + lp[0][1] + lp[0][2], sums[0], 1e-4);
    }
}
