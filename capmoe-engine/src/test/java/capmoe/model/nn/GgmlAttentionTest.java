package capmoe.model.nn;

import capmoe.kernels.GgmlOps;
import capmoe.kernels.Parallel;
import capmoe.model.nn.CachedAttentionTest.Seq;
import capmoe.routing.GgmlMath;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link GgmlAttention} (vector lanes over positions and value dims) against the composition of the
 * scalar ggml ops that {@code GgmlOpsTest} checks against llama.cpp's own tensors: per row
 * {@link GgmlOps#vecDotF32} scores, {@link GgmlMath#softmax} over the row padded to 16, then
 * {@link GgmlOps#dotF32} of each value dim with the probabilities; bit for bit, at head dims that take
 * every branch of ggml_vec_dot_f32 (48: leftovers only, 64: one step of four accumulators, 72: both,
 * 128), grouped-query heads, and a row's bits the same whether its sequence was a prefill or decoded
 * token by token, alone or beside another, on 1 or 3 threads (positions past a row's own hold NaN).
 */
class GgmlAttentionTest {

    private static final CachedAttentionTest.Kernel GGML =
            (batch, cache, q, heads, dk, dv, scale, out, scratch) -> GgmlAttention.attend(batch, cache, q, heads * dk, heads, scale, out, heads * dv);
    /** Quads of rows wherever rows make them (the engine's kernel leaves the first positions' rows alone). */
    private static final CachedAttentionTest.Kernel QUADS =
            (batch, cache, q, heads, dk, dv, scale, out, scratch) -> GgmlAttention.attend(batch, cache, q, heads * dk, heads, scale, out, heads * dv, 0);
    /** Every row alone: the order before the quads of rows. */
    private static final CachedAttentionTest.Kernel ROWS = (batch, cache, q, heads, dk, dv, scale, out, scratch) ->
            GgmlAttention.attend(batch, cache, q, heads * dk, heads, scale, out, heads * dv, Integer.MAX_VALUE);

    @Test
    void equalsTheScalarGgmlOpsBitForBit() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int dk : new int[] {48, 64, 72, 128}) {
            int heads = 4, kvHeads = 2, dv = dk, len = 70;
            float scale = 1.0f / (float) Math.sqrt(dk);
            Seq seq = Seq.random(len, heads, kvHeads, dk, dv, rnd);
            float[] got, quads;                                            // the engine's kernel; quads of rows wherever they form
            try (Parallel team = new Parallel(2)) {
                got = CachedAttentionTest.run(team, new Seq[] {seq}, new int[][] {{len}}, heads, kvHeads, dk, dv, scale, GGML)[0];
                quads = CachedAttentionTest.run(team, new Seq[] {seq}, new int[][] {{len}}, heads, kvHeads, dk, dv, scale, QUADS)[0];
            }
            float[] lanes = new float[64], key = new float[dk];
            for (int p = 0; p < len; p++) {
                for (int h = 0; h < heads; h++) {
                    int kh = h / (heads / kvHeads), valid = p + 1, n = (valid + 15) & ~15;
                    float[] s = new float[n], col = new float[n];
                    for (int j = 0; j < valid; j++) {
                        System.arraycopy(seq.k(), (j * kvHeads + kh) * dk, key, 0, dk);
                        s[j] = GgmlOps.vecDotF32(key, 0, seq.q(), (p * heads + h) * dk, dk, lanes);
                    }
                    GgmlMath.softmax(s, 0, n, valid, scale, lanes);
                    for (int d = 0; d < dv; d++) {
                        for (int j = 0; j < valid; j++) col[j] = seq.v()[(j * kvHeads + kh) * dv + d];
                        int at = (p * heads + h) * dv + d;
                        float want = GgmlOps.dotF32(col, 0, s, 0, n, lanes), have = got[at];
                        if (Float.floatToIntBits(want) != Float.floatToIntBits(have) || Float.floatToIntBits(want) != Float.floatToIntBits(quads[at])) {
                            throw new AssertionError("dk=" + dk + " position " + p + " head " + h + " dim " + d + ": " + have
                                    + " (quads everywhere " + quads[at] + ") vs " + want);
                        }
                    }
                }
            }
        }
    }

    @Test
    void rowBitsDoNotDependOnHowTheSequenceWasStepped() {
        SplittableRandom rnd = new SplittableRandom(12);
        int heads = 4, kvHeads = 4, dk = 128, dv = 128, len = 45;
        float scale = 1.0f / (float) Math.sqrt(dk);
        Seq seq = Seq.random(len, heads, kvHeads, dk, dv, rnd), other = Seq.random(20, heads, kvHeads, dk, dv, rnd);
        int[] decode = new int[len];
        java.util.Arrays.fill(decode, 1);
        int[] otherSteps = new int[len];
        otherSteps[0] = 20;
        float[] once;
        try (Parallel one = new Parallel(1)) {
            once = CachedAttentionTest.run(one, new Seq[] {seq}, new int[][] {{len}}, heads, kvHeads, dk, dv, scale, GGML)[0];
        }
        try (Parallel team = new Parallel(3)) {
            float[] stepped = CachedAttentionTest.run(team, new Seq[] {seq}, new int[][] {decode}, heads, kvHeads, dk, dv, scale, GGML)[0];
            float[] beside = CachedAttentionTest.run(team, new Seq[] {other, seq}, new int[][] {otherSteps, decode},
                    heads, kvHeads, dk, dv, scale, GGML)[1];
            for (int i = 0; i < once.length; i++) {
                assertEquals(Float.floatToIntBits(once[i]), Float.floatToIntBits(stepped[i]), "decoded, element " + i);
                assertEquals(Float.floatToIntBits(once[i]), Float.floatToIntBits(beside[i]), "beside another sequence, element " + i);
            }
        }
    }

    /**
     * Quads of rows (each key and value row shared by four rows' chains) give the bits of every row
     * alone, on random shapes: head dims through each branch of the scores (16, 40, 48: leftover dims
     * only; 64, 128: 64-dim steps only; 72, 100: both) and of p·V (value dims of 17, 24, 40, 72, 128:
     * three-vector tiles, one-vector tiles, scalar dims), grouped-query heads (groups 1 to 4), one to
     * three sequences cut into ragged steps (some empty, so quads mix rows of different lengths and
     * tasks split sequences), rows of every causal length 1..len, on 1 and 3 threads; with quads
     * wherever rows make them, and as the engine runs it (the rows at the first positions alone).
     */
    @Test
    void quadsOfRowsEqualRowsAloneBitForBit() {
        SplittableRandom rnd = new SplittableRandom(13);
        int[][] shapes = {{4, 4, 48, 48}, {4, 2, 64, 64}, {6, 3, 72, 40}, {8, 2, 16, 128}, {3, 1, 100, 24}, {5, 5, 128, 72}, {2, 1, 40, 17}};
        for (int[] shape : shapes) {
            int heads = shape[0], kvHeads = shape[1], dk = shape[2], dv = shape[3], nb = 1 + rnd.nextInt(3), steps = 4;
            float scale = 1.0f / (float) Math.sqrt(dk);
            Seq[] seqs = new Seq[nb];
            int[][] cuts = new int[nb][steps];
            for (int b = 0; b < nb; b++) {
                int len = 1 + rnd.nextInt(b == 0 ? 150 : 90);
                seqs[b] = Seq.random(len, heads, kvHeads, dk, dv, rnd);
                for (int s = 0, left = len; s < steps; s++) {             // a ragged split of len, the last step takes the rest
                    cuts[b][s] = s == steps - 1 ? left : rnd.nextInt(left + 1);
                    left -= cuts[b][s];
                }
            }
            for (int threads : new int[] {1, 3}) {
                try (Parallel team = new Parallel(threads)) {
                    float[][] rows = CachedAttentionTest.run(team, seqs, cuts, heads, kvHeads, dk, dv, scale, ROWS);
                    for (CachedAttentionTest.Kernel kernel : new CachedAttentionTest.Kernel[] {QUADS, GGML}) {
                        float[][] quads = CachedAttentionTest.run(team, seqs, cuts, heads, kvHeads, dk, dv, scale, kernel);
                        for (int b = 0; b < nb; b++) {
                            for (int i = 0; i < rows[b].length; i++) {
                                if (Float.floatToRawIntBits(quads[b][i]) != Float.floatToRawIntBits(rows[b][i])) {
                                    throw new AssertionError((kernel == QUADS ? "quads everywhere" : "engine's kernel") + ": heads " + heads
                                            + "/" + kvHeads + " dk " + dk + " dv " + dv + " threads " + threads + " sequence " + b
                                            + " element " + i + ": " + quads[b][i] + " vs " + rows[b][i]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
