package capmoe.model;

import capmoe.kernels.Parallel;
import capmoe.testing.Shared;
import capmoe.kernels.DotMode;
import capmoe.weights.LoadOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A step's bits do not depend on the thread count (TEAM.md's invariant): on the trained
 * olmoe-tiny (../shared/models/olmoe-tiny; large enough that the matmuls, the experts' tiles,
 * the embedding lookup, the norms and the LM head are split over the team), a 300-token prefill
 * (logits at every position) and 12 greedy decode steps (logits written into the caller's
 * array) on teams of 1, 2 and 3 threads give the same floats bit for bit, also with a second
 * sequence in the batch and under a capacity policy. In both numerics ({@code --dot exact} and
 * {@code reduced}: the reduced mode's native kernels keep the invariant too).
 */
class ThreadCountBitsTest {

    /** Prefill logits, then every decode step's logits, one array per step, on {@code team}. */
    private static float[][] run(CausalLM model, Parallel team, int[][] prompts, RunOptions options) {
        float[][][] out = new float[1][][];
        team.run(() -> {
            Session s = model.newSession(prompts.length, options);
            float[][] all = s.append(prompts);
            float[][] last = new float[prompts.length][model.config().vocabSize()];
            int[][] next = new int[prompts.length][1];
            float[][] steps = new float[all.length + 12 * prompts.length][];
            System.arraycopy(all, 0, steps, 0, all.length);
            for (int b = 0; b < prompts.length; b++) {
                int v = model.config().vocabSize();
                next[b][0] = Generator.argmax(Arrays.copyOfRange(all[b], all[b].length - v, all[b].length));
            }
            for (int i = 0; i < 12; i++) {
                s.appendLast(next, last);
                for (int b = 0; b < prompts.length; b++) {
                    steps[all.length + i * prompts.length + b] = last[b].clone();
                    next[b][0] = Generator.argmax(last[b]);
                }
            }
            out[0] = steps;
        });
        return out[0];
    }

    @ParameterizedTest
    @EnumSource(DotMode.class)
    void prefillAndDecodeGiveTheSameBitsOnOneTwoAndThreeThreads(DotMode dot) {
        try (CausalLM model = Models.load(Shared.require("models/olmoe-tiny"), null, LoadOptions.DEFAULT.withDot(dot));
             Parallel one = new Parallel(1); Parallel two = new Parallel(2); Parallel three = new Parallel(3)) {
            SplittableRandom r = new SplittableRandom(10);
            int[] a = r.ints(300, 2, model.config().vocabSize()).toArray(), b = r.ints(41, 2, model.config().vocabSize()).toArray();
            for (String policy : new String[] {"none", "score@1.0"}) {
                RunOptions options = RunOptions.of(capmoe.routing.Policy.parse(policy));
                for (int[][] prompts : new int[][][] {{a}, {a, b}}) {
                    float[][] ref = run(model, one, prompts, options);
                    for (Parallel team : new Parallel[] {two, three}) {
                        float[][] got = run(model, team, prompts, options);
                        assertEquals(ref.length, got.length);
                        for (int i = 0; i < ref.length; i++) {
                            String where = "--dot " + dot + ", " + policy + ", " + prompts.length + " sequence(s), " + team.threads() + " threads, output " + i;
                            assertEquals(ref[i].length, got[i].length, where);
                            for (int j = 0; j < ref[i].length; j++) {
                                if (Float.floatToRawIntBits(ref[i][j]) != Float.floatToRawIntBits(got[i][j])) {
                                    throw new AssertionError(where + ", logit " + j + ": " + got[i][j] + " vs 1 thread's " + ref[i][j]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
