package capmoe.model.deepseek;

import capmoe.model.SameMath;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.testing.Shared;
import capmoe.weights.SafeTensorsWriter;
import capmoe.weights.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.function.IntUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * rope_interleave says how q_pe/k_pe dims are laid out: adjacent pairs (x0,x1),(x2,x3).. (true) or
 * halves (x0..x3 | x4..x7) (false). A checkpoint whose rope rows of q_b_proj and kv_a_proj_with_mqa
 * are re-ordered from pairs to halves, loaded with rope_interleave=false, must compute the same
 * model as the fixture (1e-5 relative: only the order of q.k additions differs); loaded with the
 * wrong flag it must not.
 */
class RopeLayoutTest {
    @TempDir
    Path tmp;

    static final int HEADS = 4, NOPE = 16, ROPE = 8, KV_LORA = 32;

    @Test
    void halvesLayoutWithPermutedWeightsEqualsInterleaved() throws IOException {
        Path v3 = Shared.require("fixtures/hf/deepseek_v3");
        Path halves = FixtureCopy.copy(v3, tmp.resolve("halves"), RopeLayoutTest::pairsToHalves,
                "\"rope_interleave\": true", "\"rope_interleave\": false");
        Path wrong = FixtureCopy.copy(v3, tmp.resolve("wrong"), FixtureCopy::same,
                "\"rope_interleave\": true", "\"rope_interleave\": false");
        int[][] seq = {SameMath.tokens(20, 384, 9)};
        float[] expected, permuted, unpermuted;
        try (CausalLM m = Models.load(v3)) { expected = m.forward(seq, RunOptions.defaults())[0]; }
        try (CausalLM m = Models.load(halves)) { permuted = m.forward(seq, RunOptions.defaults())[0]; }
        try (CausalLM m = Models.load(wrong)) { unpermuted = m.forward(seq, RunOptions.defaults())[0]; }
        double same = SameMath.relativeError(expected, permuted);
        double different = SameMath.relativeError(expected, unpermuted);
        assertTrue(same <= 1e-5, "permuted weights + halves layout: " + same);
        assertTrue(different > 1e-3, "the flag matters: " + different);
    }

    /** Row r of the new tensor is row rowOf(r) of the old one, for the rope rows of the two projections. */
    static SafeTensorsWriter.Entry pairsToHalves(Tensor t) {
        // within one block of ROPE rows: new i < ROPE/2 takes old 2i, new ROPE/2 + i takes old 2i + 1
        IntUnaryOperator inBlock = i -> i < ROPE / 2 ? 2 * i : 2 * (i - ROPE / 2) + 1;
        IntUnaryOperator rowOf;
        if (t.name().endsWith("self_attn.q_b_proj.weight")) {
            int qk = NOPE + ROPE;
            rowOf = r -> r % qk < NOPE ? r : r - r % qk + NOPE + inBlock.applyAsInt(r % qk - NOPE);
        } else if (t.name().endsWith("self_attn.kv_a_proj_with_mqa.weight")) {
            rowOf = r -> r < KV_LORA ? r : KV_LORA + inBlock.applyAsInt(r - KV_LORA);
        } else {
            return FixtureCopy.same(t);
        }
        int rows = (int) t.shape()[0], cols = (int) t.shape()[1], size = t.dtype().size();
        byte[] old = t.data().toArray(ValueLayout.JAVA_BYTE), permuted = new byte[old.length];
        for (int r = 0; r < rows; r++) System.arraycopy(old, rowOf.applyAsInt(r) * cols * size, permuted, r * cols * size, cols * size);
        return new SafeTensorsWriter.Entry(t.name(), t.dtype(), t.shape(),
                (out, first) -> out.put(permuted, (int) (first * size), out.remaining()));
    }
}
