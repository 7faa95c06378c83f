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

    @Test
    void equalsTheScalarGgmlOpsBitForBit() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int dk : new int[] {48, 64, 72, 128}) {
            int heads = 4, kvHeads = 2, dv = dk, len = 70;
            float scale = 1.0f / (float) Math.sqrt(dk);
            Seq seq = Seq.random(len, heads, kvHeads, dk, dv, rnd);
            float[] got;
            try (Parallel team = new Parallel(2)) {
                got = CachedAttentionTest.run(team, new Seq[] {seq}, new int[][] {{len}}, heads, kvHeads, dk, dv, scale, GGML)[0];
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
                        float want = GgmlOps.dotF32(col, 0, s, 0, n, lanes), have = got[(p * heads + h) * dv + d];
                        if (Float.floatToIntBits(want) != Float.floatToIntBits(have)) {
                            throw new AssertionError("dk=" + dk + " position " + p + " head " + h + " dim " + d + ": " + have + " vs " + want);
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
}
