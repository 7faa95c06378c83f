package capmoe.model;

import capmoe.kernels.Matrix;
import capmoe.kernels.Panels;
import capmoe.testing.Shared;
import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --quantize} on every fixture: the logits of the Q8_0 / Q4_0 model stay close to the model
 * as stored, and row independence holds (a sequence alone = the same sequence in a batch, bit for bit).
 * Tolerance (max|Δlogit| / max|logit|): 0.06 for Q8_0 and 0.5 for Q4_0. Weights and activations
 * both move by up to half a step (amax/127 resp. amax/8 of their block), which in these tiny random
 * 2-layer models, with routing flips, measured 0.015–0.029 (Q8_0) and 0.14–0.27 (Q4_0) over the six
 * fixtures; the bounds leave 2× room and still catch a wrong layout or scale (errors of order 1).
 * The kernels' exact checks are in QuantizerTest and QuantMatMulTest.
 */
class QuantizedModelTest {

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"})
    void quantizedLogitsStayCloseAndRowsStayIndependent(String arch) {
        Path dir = Shared.require("fixtures/hf/" + arch);
        int[] a = SameMath.tokens(11, 200, 1), b = SameMath.tokens(7, 200, 2);
        float[][] ref;
        try (CausalLM m = Models.load(dir)) {
            ref = m.forward(new int[][] {a, b}, RunOptions.defaults());
        }
        for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
            try (CausalLM m = Models.load(dir, null, format)) {
                float[][] both = m.forward(new int[][] {a, b}, RunOptions.defaults());
                float[][] alone = m.forward(new int[][] {b}, RunOptions.defaults());
                assertTrue(java.util.Arrays.equals(both[1], alone[0]), arch + " " + format + ": a row changed with the batch");
                double err = Math.max(SameMath.relativeError(ref[0], both[0]), SameMath.relativeError(ref[1], both[1]));
                double tol = format == DType.Q8_0 ? 0.06 : 0.5;
                assertTrue(err <= tol && err > 0, arch + " " + format + ": relative logit error " + err + " not in (0, " + tol + "]");
            }
        }
    }

    /**
     * {@code --quantize} keeps each matrix that has panels once, in the format's bytes: its weight
     * bytes are exactly its panels' (Q8_0 34, Q4_0 18 bytes per 32 weights, rows padded to whole
     * panels), with no row-major copy beside them; the embedding table (read by rows, no panels)
     * keeps the row-major blocks alone. Prints the totals for olmoe-tiny.
     */
    @Test
    void quantizedWeightsAreKeptOnceInTheFormatsBytes() {
        Path dir = Shared.require("models/olmoe-tiny");
        for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
            long kept = 0, dropped = 0;
            int matrices = 0;
            try (Checkpoint c = Models.checkpoint(dir, format)) {
                for (Tensor t : c.tensors().values()) {
                    if (t.shape().length != 2 || !Checkpoint.quantizes(t.name(), (int) t.shape()[1])) continue;
                    int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
                    Matrix m = c.matrix(t.name(), rows, cols, "test");
                    long padded = (long) (rows + Panels.NR - 1) / Panels.NR * Panels.NR;
                    if (t.name().endsWith("embed_tokens.weight")) {
                        assertEquals(format.bytes((long) rows * cols), m.weightBytes(), t.name() + ": row-major blocks only");
                    } else {
                        assertEquals(format.bytes(padded * cols), m.weightBytes(), t.name() + ": " + format + " panels only");
                        assertThrows(IllegalStateException.class, m::data, t.name() + " still has row-major bytes");
                        dropped += format.bytes((long) rows * cols);
                        matrices++;
                    }
                    kept += m.weightBytes();
                }
            }
            assertTrue(matrices > 20, "only " + matrices + " matrices with panels");
            System.out.printf("olmoe-tiny --quantize %s: quantized weights kept %d bytes (%d matrices as panels only, embedding row-major);"
                    + " the row-major copies no longer kept beside the panels: %d bytes (%d before)%n", format, kept, matrices, dropped, kept + dropped);
        }
    }
}
