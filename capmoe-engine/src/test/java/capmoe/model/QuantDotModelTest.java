package capmoe.model;

import capmoe.kernels.DotMode;
import capmoe.kernels.Matrix;
import capmoe.kernels.QuantDotPanels;
import capmoe.testing.Shared;
import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;
import capmoe.weights.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole models with Q8_0 / Q4_0 weights in {@code --dot reduced} ({@link capmoe.kernels.QuantDot}:
 * llama.cpp's arithmetic) against the same weights in the exact mode:
 * <ol>
 *   <li>olmoe-tiny (really trained, 32 experts top-4) with {@code --quantize}: the largest
 *       |Δlogit| / max|logit| over two sequences stays within TOL (and is not 0: the modes differ);
 *       the two modes quantize the activations identically and differ only in the fp32 order of each
 *       dot product (about 1e-7 relative), but a value that then sits on a Q8_0 rounding boundary
 *       of the next layer lands one step apart and routing can change, as between capmoe and
 *       llama.cpp (README: "Against llama.cpp on the same GGUF files");</li>
 *   <li>row independence in the reduced mode: a sequence alone and in a batch give the same bits;</li>
 *   <li>a GGUF file with Q8_0 / Q4_0 weights (written from the olmoe fixture) in the reduced mode
 *       gives the bits of the safetensors checkpoint with {@code --quantize} in the reduced mode (the
 *       same blocks, so the same dot panels);</li>
 *   <li>a reduced matrix keeps only its dot panels: the format's bytes (rows padded to 16), no
 *       row-major copy and no exact-mode panels beside them.</li>
 * </ol>
 */
class QuantDotModelTest {

    /**
     * Bound on max|Δlogit| / max|logit| between the modes on olmoe-tiny: measured 0.103 (Q8_0) and
     * 0.063 (Q4_0) on these sequences, the size of capmoe's exact mode against llama.cpp (0.114 /
     * 0.19); a wrong layout, scale or sign gives errors of order 1.
     */
    static final double TOL = 0.25;

    @TempDir
    Path tmp;

    static float[][] forward(Path dir, String torchDtype, LoadOptions options, int[][] seqs) {
        try (CausalLM m = Models.load(dir, torchDtype, options)) {
            return m.forward(seqs, RunOptions.defaults());
        }
    }

    @Test
    void olmoeTinyReducedStaysNearExactAndRowsStayIndependent() {
        Path dir = Shared.require("models/olmoe-tiny");
        int[] a = SameMath.tokens(64, 8000, 1), b = SameMath.tokens(40, 8000, 2);
        for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
            float[][] exact = forward(dir, null, new LoadOptions(format, DotMode.EXACT), new int[][] {a, b});
            LoadOptions reduced = new LoadOptions(format, DotMode.REDUCED);
            float[][] both, alone;
            try (CausalLM m = Models.load(dir, null, reduced)) {
                both = m.forward(new int[][] {a, b}, RunOptions.defaults());
                alone = m.forward(new int[][] {b}, RunOptions.defaults());
            }
            assertTrue(Arrays.equals(both[1], alone[0]), format + " reduced: a row changed with the batch");
            double err = Math.max(SameMath.relativeError(exact[0], both[0]), SameMath.relativeError(exact[1], both[1]));
            System.out.printf("olmoe-tiny %s: reduced vs exact, max|dlogit|/max|logit| %.3g%n", format, err);
            assertTrue(err > 0 && err <= TOL, format + ": reduced vs exact relative logit error " + err + " not in (0, " + TOL + "]");
        }
    }

    @Test
    void quantizedGgufInReducedModeIsQuantizeInReducedMode() throws IOException {
        Path dir = Shared.require("fixtures/hf/olmoe");
        int[][] seqs = {SameMath.tokens(13, 300, 1), SameMath.tokens(5, 300, 2)};
        for (DType type : new DType[] {DType.Q8_0, DType.Q4_0}) {
            Path gguf = GgufFixtures.write(dir, type, tmp.resolve("olmoe-" + type + ".gguf"));
            float[][] fromGguf = forward(gguf, null, new LoadOptions(null, DotMode.REDUCED), seqs);
            float[][] quantized = forward(dir, "float32", new LoadOptions(type, DotMode.REDUCED), seqs);
            float[][] exact = forward(gguf, null, new LoadOptions(null, DotMode.EXACT), seqs);
            assertTrue(Arrays.deepEquals(quantized, fromGguf), type + " GGUF reduced: logits differ from safetensors --quantize reduced");
            assertTrue(!Arrays.deepEquals(exact, fromGguf), type + " GGUF: reduced gave the exact mode's bits (not dispatched?)");
            double err = Math.max(SameMath.relativeError(exact[0], fromGguf[0]), SameMath.relativeError(exact[1], fromGguf[1]));
            System.out.printf("olmoe fixture %s GGUF: reduced vs exact, max|dlogit|/max|logit| %.3g%n", type, err);
        }
    }

    @Test
    void reducedMatricesKeepOnlyTheirDotPanels() {
        Path dir = Shared.require("models/olmoe-tiny");
        for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
            int matrices = 0;
            try (Checkpoint c = Models.checkpoint(dir, new LoadOptions(format, DotMode.REDUCED))) {
                for (Tensor t : c.tensors().values()) {
                    if (t.shape().length != 2 || !Checkpoint.quantizes(t.name(), (int) t.shape()[1]) || t.name().endsWith("embed_tokens.weight")) continue;
                    int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
                    Matrix m = c.matrix(t.name(), rows, cols, "test");
                    long padded = (long) (rows + QuantDotPanels.COLUMNS - 1) / QuantDotPanels.COLUMNS * QuantDotPanels.COLUMNS;
                    assertEquals(format.bytes(padded * cols), m.weightBytes(), t.name() + ": " + format + " dot panels only");
                    assertThrows(IllegalStateException.class, m::data, t.name() + " still has row-major bytes");
                    matrices++;
                }
            }
            assertTrue(matrices > 20, "only " + matrices + " matrices");
        }
    }
}
