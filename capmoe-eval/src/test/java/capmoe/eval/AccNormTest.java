package capmoe.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** acc_norm divides a choice's log-likelihood by its length in UTF-8 bytes, not characters. */
class AccNormTest {

    @Test
    void normalisesByBytes() {
        double[] ll = {-5.4, -4.0};
        List<String> choices = List.of("ééé", "abcd"); // 6 bytes (3 chars), 4 bytes (4 chars)
        assertEquals(1, Evaluator.argmax(ll), "raw log-likelihood prefers the second");
        // per byte: -0.9 vs -1.0 -> first; per character it would be -1.8 vs -1.0 -> second
        assertEquals(0, Evaluator.argmaxPerByte(ll, choices));
    }

    @Test
    void tiesGoToTheFirstChoiceAsNumpyArgmax() {
        assertEquals(0, Evaluator.argmax(new double[] {-1, -1}));
        assertEquals(0, Evaluator.argmaxPerByte(new double[] {-2, -4}, List.of("ab", "abcd")));
    }
}
