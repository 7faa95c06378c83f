package capmoe.model.deepseek;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.testing.Shared;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static capmoe.model.SameMath.assertClose;
import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The latent-attention KV cache on the DeepSeek fixtures (their policies per MoE layer are in
 * EveryMoeLayerTest). Same-math comparisons use 1e-5 relative to max|logit|: only the order of
 * fp32 additions differs.
 */
class DeepSeekBehaviourTest {

    @ParameterizedTest
    @ValueSource(strings = {"deepseek_v2", "deepseek_v3"})
    void cachedDecodeOfPackedSequencesEqualsFullForward(String arch) {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch))) {
            int v = model.config().vocabSize();
            int[] a = tokens(17, 384, 1), b = tokens(6, 384, 2);
            float[] aFull = model.forward(new int[][] {a}, RunOptions.defaults())[0];
            float[] bFull = model.forward(new int[][] {b}, RunOptions.defaults())[0];
            // two sequences of different lengths in one session, appended in uneven chunks
            Session s = model.newSession(2, RunOptions.defaults());
            int doneA = 0, doneB = 0;
            int[][] chunks = {{5, 2}, {1, 1}, {7, 0}, {1, 3}, {3, 0}};
            for (int[] c : chunks) {
                float[][] got = s.append(new int[][] {Arrays.copyOfRange(a, doneA, doneA + c[0]), Arrays.copyOfRange(b, doneB, doneB + c[1])});
                assertClose(Arrays.copyOfRange(aFull, doneA * v, (doneA + c[0]) * v), got[0], arch + " a at " + doneA);
                assertClose(Arrays.copyOfRange(bFull, doneB * v, (doneB + c[1]) * v), got[1], arch + " b at " + doneB);
                doneA += c[0];
                doneB += c[1];
            }
            assertEquals(17, s.length(0));
            assertEquals(6, s.length(1));
        }
    }
}
