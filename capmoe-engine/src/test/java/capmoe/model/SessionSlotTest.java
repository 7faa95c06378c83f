package capmoe.model;

import capmoe.routing.Policy;
import capmoe.testing.Shared;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static capmoe.model.SameMath.assertClose;
import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Serving slots: {@link Session#reset} empties one sequence so a new one can start in its place, idle
 * slots take part in a step with no tokens, and {@link Session#withOptions} appends to the same
 * sequences under other run options. Each slot must then compute what a fresh full forward pass of
 * its own tokens computes. Tolerance 1e-5 of max|logit| (as {@link SessionForkTest}: only the batch
 * shape, so the order of fp32 additions, differs). Policy none, so routing does not depend on the batch.
 */
class SessionSlotTest {

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "deepseek_v2"})
    void resetSlotStartsAFreshSequenceAndLeavesTheOthers(String arch) {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch))) {
            int v = model.config().vocabSize();
            RunOptions none = RunOptions.defaults();
            int[] a = tokens(7, v, 1), b = tokens(5, v, 2), c = tokens(4, v, 3);
            Session slots = model.newSession(3, none);
            slots.append(new int[][] {a, b, {}});           // slot 2 idle
            slots.reset(0);
            assertEquals(0, slots.length(0));
            assertEquals(b.length, slots.length(1));
            assertEquals(0, slots.length(2));

            int[] next = {42 % v};
            // the view under other options shares the caches: what it appends, the session sees
            Session view = slots.withOptions(RunOptions.of(new Policy.None()));
            float[][] out = view.append(new int[][] {c, next, {}});
            assertEquals(c.length, slots.length(0));
            assertEquals(b.length + 1, slots.length(1));
            assertEquals(0, out[2].length);

            float[] fresh = model.forward(new int[][] {c}, none)[0];
            assertClose(fresh, out[0], arch + " slot 0 after reset");
            float[] full = model.forward(new int[][] {SessionForkTest.concat(b, next)}, none)[0];
            assertClose(Arrays.copyOfRange(full, b.length * v, (b.length + 1) * v), out[1], arch + " slot 1 went on");
        }
    }
}
