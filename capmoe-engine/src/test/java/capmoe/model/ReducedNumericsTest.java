package capmoe.model;

import capmoe.kernels.DotMode;
import capmoe.testing.Shared;
import capmoe.weights.LoadOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole models in {@code --dot reduced} against the same models in {@code --dot exact}: the
 * reduced mode rounds every matmul's activations to bf16 (relative error up to 2^-9 each, llama.cpp's
 * arithmetic), so its logits differ from the exact ones by bf16 activation error carried through the
 * layers, not by more; and it does differ (the reduced path is the one that ran).
 *
 * <p>Tolerances (measured values in the messages):
 * <ul>
 *   <li>HF fixtures (tiny random models, 2 layers, BF16 weights): max|Δlogit| ≤ {@value #FIXTURE_TOLERANCE}
 *       of max|logit| (measured 2.4e-3 to 5.7e-3): a few 2^-9 steps per matmul, a handful of matmuls deep.</li>
 *   <li>olmoe-tiny (trained, 4 layers of top-4 of 32 experts) on 128 tokens of held-out text: a
 *       position whose router picks another expert can move by much more (a different expert's
 *       output), so the test bounds the typical position, the median of max|Δlogit| / max|logit| per
 *       position ≤ {@value #MEDIAN_TOLERANCE}, and the greedy token, the same at ≥ 90% of positions.</li>
 * </ul>
 */
class ReducedNumericsTest {

    static final double FIXTURE_TOLERANCE = 1e-2;
    static final double MEDIAN_TOLERANCE = 1e-2;

    private static float[][] logits(String dir, DotMode dot, int[][] batch) {
        try (CausalLM m = Models.load(Shared.require(dir), null, LoadOptions.DEFAULT.withDot(dot))) {
            return m.forward(batch, RunOptions.of(capmoe.routing.Policy.parse("none")));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"})
    void fixturesInReducedModeStayWithinBf16ActivationErrorOfExact(String arch) {
        int vocab = ModelConfig.read(Shared.require("fixtures/hf/" + arch)).vocabSize();
        int[][] batch = {SameMath.tokens(13, vocab, 1), SameMath.tokens(7, vocab, 2)};
        float[][] exact = logits("fixtures/hf/" + arch, DotMode.EXACT, batch), reduced = logits("fixtures/hf/" + arch, DotMode.REDUCED, batch);
        for (int b = 0; b < batch.length; b++) {
            double rel = SameMath.relativeError(exact[b], reduced[b]);
            System.out.printf("%s sequence %d: reduced vs exact max|Δlogit| / max|logit| = %.3g%n", arch, b, rel);
            assertTrue(rel <= FIXTURE_TOLERANCE, arch + " sequence " + b + ": reduced vs exact " + rel + " > " + FIXTURE_TOLERANCE);
            assertTrue(rel > 0, arch + " sequence " + b + ": reduced gave exact's bits (the reduced kernels did not run)");
        }
    }

    @Test
    void olmoeTinyInReducedModeAgreesWithExactOnRealText() throws Exception {
        String text = java.nio.file.Files.readString(Shared.require("data/gutenberg/heldout.txt"));
        int[] ids;
        try (var tok = capmoe.tokenizer.HfTokenizer.load(Shared.require("models/olmoe-tiny"))) {
            ids = Arrays.copyOf(tok.encode(text.substring(0, 4000)), 128);
        }
        int[][] batch = {ids};
        float[] exact = logits("models/olmoe-tiny", DotMode.EXACT, batch)[0], reduced = logits("models/olmoe-tiny", DotMode.REDUCED, batch)[0];
        int vocab = exact.length / ids.length, same = 0;
        double[] rel = new double[ids.length];
        for (int p = 0; p < ids.length; p++) {
            float[] e = Arrays.copyOfRange(exact, p * vocab, (p + 1) * vocab), r = Arrays.copyOfRange(reduced, p * vocab, (p + 1) * vocab);
            rel[p] = SameMath.relativeError(e, r);
            if (Generator.argmax(e) == Generator.argmax(r)) same++;
        }
        double[] sorted = rel.clone();
        Arrays.sort(sorted);
        double median = sorted[sorted.length / 2], max = sorted[sorted.length - 1];
        System.out.printf("olmoe-tiny, 128 tokens: reduced vs exact per-position max|Δlogit| / max|logit|: median %.3g, max %.3g; greedy token the same at %d of %d%n",
                median, max, same, ids.length);
        assertTrue(median <= MEDIAN_TOLERANCE, "median " + median + " > " + MEDIAN_TOLERANCE);
        assertTrue(median > 0, "reduced gave exact's bits (the reduced kernels did not run)");
        assertTrue(same >= 0.9 * ids.length, "greedy token the same at only " + same + " of " + ids.length + " positions");
    }
}
