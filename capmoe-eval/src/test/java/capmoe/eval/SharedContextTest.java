package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.LogProbs;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.testing.Shared;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shared-context scoring (prefill each context once, fork a row per continuation) against the
 * full-sequence path and an independent one-sequence-at-a-time computation, on the OLMoE fixture,
 * with a request mix that takes every branch: multi-token continuations of different lengths, a
 * duplicate, single-token choices (answered by the prefill alone), a context asked once, a request
 * cut by the truncation, and a context whose rows outnumber the batch.
 */
class SharedContextTest {
    static CausalLM model;
    static final int MAX_LENGTH = 24, BATCH = 2;

    @BeforeAll
    static void load() {
        model = Models.load(Shared.require("fixtures/hf/olmoe"));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    static int[] tokens(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(384);
        return t;
    }

    static List<LoglikelihoodRequest> requests() {
        int[] a = tokens(10, 1), b = tokens(6, 2), c = tokens(7, 3), d = tokens(20, 4), e = tokens(8, 5);
        int[] a1 = tokens(3, 11);
        List<LoglikelihoodRequest> q = new ArrayList<>();
        // context a: 3 distinct multi-token rows (more than BATCH, appended together), a duplicate, a single token
        q.add(new LoglikelihoodRequest(a, a1));
        q.add(new LoglikelihoodRequest(a, tokens(1, 12)));
        q.add(new LoglikelihoodRequest(a, tokens(5, 13)));
        q.add(new LoglikelihoodRequest(a, a1.clone()));
        q.add(new LoglikelihoodRequest(a, tokens(2, 14)));
        q.add(new LoglikelihoodRequest(b, tokens(2, 21)));
        q.add(new LoglikelihoodRequest(b, tokens(4, 22)));
        // a context asked once: nothing to share
        q.add(new LoglikelihoodRequest(c, tokens(3, 31)));
        // 20 + 6 > MAX_LENGTH + 1: truncation cuts the context, so the full-sequence path; the other two share d
        q.add(new LoglikelihoodRequest(d, tokens(6, 41)));
        q.add(new LoglikelihoodRequest(d, tokens(3, 42)));
        q.add(new LoglikelihoodRequest(d, tokens(4, 43)));
        // mmlu-style: four single-token choices after one prompt
        for (int i = 0; i < 4; i++) q.add(new LoglikelihoodRequest(e, new int[] {10 + i}));
        return q;
    }

    /** lm-eval's rule computed directly: score the continuation after the kept tail of (context ++ continuation). */
    static double independent(LoglikelihoodRequest q) {
        int[] all = Arrays.copyOf(q.context(), q.context().length + q.continuation().length);
        System.arraycopy(q.continuation(), 0, all, q.context().length, q.continuation().length);
        int[] kept = Arrays.copyOfRange(all, Math.max(0, all.length - (MAX_LENGTH + 1)), all.length);
        int[] ctx = Arrays.copyOf(kept, kept.length - q.continuation().length);
        return LogProbs.sum(model, new int[][] {ctx}, new int[][] {q.continuation()}, RunOptions.defaults())[0];
    }

    record Run(List<Loglikelihood> scores, long layer0Tokens) { }

    static Run run(Policy policy, boolean shared) {
        long[] tokens = {0};
        RunOptions options = RunOptions.of(policy).withListener((layer, r) -> {
            if (layer == 0) tokens[0] += r.tokens();
        });
        return new Run(Loglikelihoods.score(model, options, requests(), MAX_LENGTH, BATCH, shared, null), tokens[0]);
    }

    @Test
    void bothModesEqualTheIndependentComputationUnderNone() {
        List<LoglikelihoodRequest> requests = requests();
        Run shared = run(new Policy.None(), true);
        Run full = run(new Policy.None(), false);
        for (int i = 0; i < requests.size(); i++) {
            double want = independent(requests.get(i));
            double s = shared.scores().get(i).logprob(), f = full.scores().get(i).logprob();
            assertEquals(want, s, 1e-4, "request " + i + ", shared context");
            assertEquals(want, f, 1e-4, "request " + i + ", full sequence");
            assertTrue(Math.abs(s - f) <= 1e-4 * Math.abs(f), "request " + i + ": " + s + " vs " + f);
        }
        assertEquals(shared.scores().get(0), shared.scores().get(3), "a duplicate gets the same answer");
    }

    @Test
    void sharedContextRunsEachContextOnce() {
        // full sequence: every distinct (context ++ continuation)[-25:][:-1]:
        //   a 12+10+14+11, b 7+9, c 9, d 24+22+23, e 8 (its four inputs are one)   = 149
        // shared context: the full-sequence ones (c 9, truncated d 24), then each context once plus
        // its forked rows' continuations minus their last token:
        //   a 10+2+4+1, b 6+1+3, d 20+2+3, e 8                                        = 93
        assertEquals(149, run(new Policy.None(), false).layer0Tokens());
        assertEquals(93, run(new Policy.None(), true).layer0Tokens());
    }

    @Test
    void underACapacityPolicyBothModesRunAndRouteDifferentBatches() {
        Policy drop = Policy.parse("score@0.5");
        Run shared = run(drop, true);
        Run full = run(drop, false);
        double largest = 0;
        for (int i = 0; i < shared.scores().size(); i++) {
            assertTrue(Double.isFinite(shared.scores().get(i).logprob()) && Double.isFinite(full.scores().get(i).logprob()));
            largest = Math.max(largest, Math.abs(shared.scores().get(i).logprob() - full.scores().get(i).logprob()));
        }
        assertTrue(largest > 1e-3, "capacity is per forward call, so the modes' different batches drop differently");
        assertEquals(shared.scores(), run(drop, true).scores(), "each mode is deterministic");
    }
}
