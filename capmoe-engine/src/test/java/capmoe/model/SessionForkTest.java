package capmoe.model;

import capmoe.testing.Shared;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static capmoe.model.SameMath.assertClose;
import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Session#fork}: prefill contexts once, copy each into as many rows as it has continuations,
 * append every continuation in one batched step, and get what a full forward pass of
 * context ++ continuation gives. Tolerance 1e-5 of max|logit|: only the order of fp32 additions
 * differs with the batch shape. Policy none, so routing does not depend on the batch.
 */
class SessionForkTest {

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"})
    void prefillForkAppendEqualsFullForward(String arch) {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch))) {
            int v = model.config().vocabSize();
            RunOptions none = RunOptions.defaults();
            int[][] contexts = {tokens(9, v, 1), tokens(5, v, 2)};
            Session prefill = model.newSession(2, none);
            float[][] lastOfContext = prefill.appendLast(contexts);

            // context 1 gets two rows, context 0 two rows, interleaved, continuations of different lengths
            int[] sources = {1, 0, 0, 1};
            int[][] continuations = {tokens(3, v, 3), tokens(1, v, 4), tokens(4, v, 5), tokens(2, v, 6)};
            Session forked = prefill.fork(sources);
            for (int i = 0; i < sources.length; i++) assertEquals(contexts[sources[i]].length, forked.length(i));
            float[][] appended = forked.append(continuations);

            for (int i = 0; i < sources.length; i++) {
                int[] ctx = contexts[sources[i]];
                float[] full = model.forward(new int[][] {concat(ctx, continuations[i])}, none)[0];
                int n = ctx.length;
                assertClose(Arrays.copyOfRange(full, (n - 1) * v, n * v), lastOfContext[sources[i]],
                        arch + " row " + i + ": last context position");
                assertClose(Arrays.copyOfRange(full, n * v, (n + continuations[i].length) * v), appended[i],
                        arch + " row " + i + ": continuation positions");
                assertEquals(n + continuations[i].length, forked.length(i));
            }

            // the source session is untouched by the fork and by what the forked rows appended
            int[][] next = {{7 % v}, {11 % v}};
            float[][] parent = prefill.appendLast(next);
            for (int b = 0; b < 2; b++) {
                int n = contexts[b].length;
                float[] full = model.forward(new int[][] {concat(contexts[b], next[b])}, none)[0];
                assertClose(Arrays.copyOfRange(full, n * v, (n + 1) * v), parent[b], arch + " source sequence " + b);
            }

            var e = assertThrows(IllegalArgumentException.class, () -> prefill.fork(new int[] {0, 2}));
            assertTrue(e.getMessage().contains("fork source 2"), e.getMessage());
        }
    }
}
