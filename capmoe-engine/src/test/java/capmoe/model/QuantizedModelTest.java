package capmoe.model;

import capmoe.testing.Shared;
import capmoe.weights.DType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

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
}
