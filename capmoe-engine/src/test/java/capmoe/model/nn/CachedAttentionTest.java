package capmoe.model.nn;

import capmoe.kernels.Parallel;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The blocked attention kernel against a float64 scalar causal attention, and the row
 * independence it promises: a row's bits do not depend on how its sequence was cut into steps
 * (prefill at once, chunks, one token at a time), on the other sequences of the step, or on the
 * thread count; positions past a row's own are never read (they hold NaN here).
 */
class CachedAttentionTest {
    private static final int BLOCK = KvCache.BLOCK;

    /** One test sequence: its keys and values [len x kvHeads x dk|dv] and queries [len x heads x dk]. */
    record Seq(int len, float[] k, float[] v, float[] q) {
        static Seq random(int len, int heads, int kvHeads, int dk, int dv, SplittableRandom rnd) {
            return new Seq(len, fill(len * kvHeads * dk, rnd, 1f), fill(len * kvHeads * dv, rnd, 1f), fill(len * heads * dk, rnd, 2f));
        }
    }

    static float[] fill(int n, SplittableRandom rnd, float range) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * range);
        return a;
    }

    /**
     * Runs steps over the sequences: step s appends {@code cuts[b][s]} tokens of sequence b. Returns
     * every position's output [len x heads x dv] per sequence. Before each step, the cache
     * positions after the step's last one in their block are NaN (never to be read).
     */
    /** An attention kernel with {@link CachedAttention#attend}'s arguments (GgmlAttentionTest runs its own through {@link #run}). */
    interface Kernel {
        void attend(Batch batch, KvCache cache, float[] q, int heads, int dk, int dv, float scale, float[] out, Scratch scratch);
    }

    private static float[][] run(Parallel team, Seq[] seqs, int[][] cuts, int heads, int kvHeads, int dk, int dv, float scale) {
        return run(team, seqs, cuts, heads, kvHeads, dk, dv, scale,
                (batch, cache, q, h, k, v, sc, out, scratch) -> CachedAttention.attend(batch, cache, q, h * k, h, sc, out, h * v, scratch));
    }

    static float[][] run(Parallel team, Seq[] seqs, int[][] cuts, int heads, int kvHeads, int dk, int dv, float scale, Kernel kernel) {
        int nb = seqs.length;
        KvCache cache = new KvCache(nb, kvHeads, dk, dv);
        float[][] outs = new float[nb][];
        for (int b = 0; b < nb; b++) outs[b] = new float[seqs[b].len * heads * dv];
        int[] done = new int[nb];
        Scratch scratch = new Scratch();
        float[] nan = new float[Math.max(dk, dv)];
        java.util.Arrays.fill(nan, Float.NaN);
        for (int s = 0; s < cuts[0].length; s++) {
            int[][] tokens = new int[nb][];
            for (int b = 0; b < nb; b++) tokens[b] = new int[cuts[b][s]];
            Batch batch = Batch.of(tokens, done);
            int t = batch.tokens();
            float[] q = new float[t * heads * dk];
            for (int b = 0; b < nb; b++) {
                int n = cuts[b][s], end = done[b] + n;
                cache.ensure(b, end);
                for (int p = done[b]; p < end; p++) {
                    for (int h = 0; h < kvHeads; h++) {
                        cache.put(b, p, h, seqs[b].k, (p * kvHeads + h) * dk, seqs[b].v, (p * kvHeads + h) * dv);
                    }
                }
                for (int p = end; p < (end + BLOCK - 1) / BLOCK * BLOCK; p++) {
                    for (int h = 0; h < kvHeads; h++) cache.put(b, p, h, nan, 0, nan, 0);
                }
                System.arraycopy(seqs[b].q, done[b] * heads * dk, q, batch.start()[b] * heads * dk, n * heads * dk);
            }
            float[] out = new float[t * heads * dv];
            team.run(() -> kernel.attend(batch, cache, q, heads, dk, dv, scale, out, scratch));
            for (int b = 0; b < nb; b++) {
                System.arraycopy(out, batch.start()[b] * heads * dv, outs[b], done[b] * heads * dv, cuts[b][s] * heads * dv);
                done[b] += cuts[b][s];
            }
        }
        return outs;
    }

    /** softmax(q·k * scale) · v over positions 0..p, in float64. */
    private static double[] reference(Seq s, int p, int h, int heads, int kvHeads, int dk, int dv, float scale) {
        int kh = h / (heads / kvHeads);
        double[] sc = new double[p + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= p; j++) {
            double dot = 0;
            for (int c = 0; c < dk; c++) dot += (double) s.q[(p * heads + h) * dk + c] * s.k[(j * kvHeads + kh) * dk + c];
            sc[j] = dot * scale;
            max = Math.max(max, sc[j]);
        }
        double sum = 0;
        for (int j = 0; j <= p; j++) sum += sc[j] = Math.exp(sc[j] - max);
        double[] o = new double[dv];
        for (int j = 0; j <= p; j++) {
            for (int e = 0; e < dv; e++) o[e] += sc[j] / sum * s.v[(j * kvHeads + kh) * dv + e];
        }
        return o;
    }

    /**
     * Random shapes: GQA groups 1, 2, 4 (and MLA's dk != dv), head dims that are not multiples of
     * the vector width, lengths that end mid-block, several sequences with prompts split in
     * random chunks. Tolerance 2e-6 absolute on outputs bounded by max|v| = 1: the fp32 score
     * (a dk-term dot, |q·k·scale| up to ~2 sqrt(dk)) carries a relative error of a few 2^-24 times
     * its size, which exp turns into the same relative error on each weight; the weights sum to 1.
     */
    @Test
    void matchesFloat64CausalAttention() {
        SplittableRandom rnd = new SplittableRandom(11);
        int[] groups = {1, 2, 4};
        for (int trial = 0; trial < 24; trial++) {
            int group = groups[trial % 3], kvHeads = 1 + rnd.nextInt(3), heads = kvHeads * group;
            int dk = 1 + rnd.nextInt(70), dv = trial % 4 == 3 ? dk : 1 + rnd.nextInt(70);
            float scale = (float) (1 / Math.sqrt(dk));
            int nb = 1 + rnd.nextInt(3), steps = 1 + rnd.nextInt(3);
            Seq[] seqs = new Seq[nb];
            int[][] cuts = new int[nb][steps];
            for (int b = 0; b < nb; b++) {
                int len = 0;
                for (int s = 0; s < steps; s++) len += cuts[b][s] = rnd.nextInt(3 * BLOCK + 7);
                seqs[b] = Seq.random(len, heads, kvHeads, dk, dv, rnd);
            }
            float[][] outs;
            try (Parallel team = new Parallel(2)) {
                outs = run(team, seqs, cuts, heads, kvHeads, dk, dv, scale);
            }
            String shape = "heads=" + heads + " kvHeads=" + kvHeads + " dk=" + dk + " dv=" + dv;
            double worst = 0;
            for (int b = 0; b < nb; b++) {
                for (int p = 0; p < seqs[b].len; p++) {
                    for (int h = 0; h < heads; h++) {
                        double[] want = reference(seqs[b], p, h, heads, kvHeads, dk, dv, scale);
                        for (int e = 0; e < dv; e++) {
                            float got = outs[b][(p * heads + h) * dv + e];
                            double err = Math.abs(got - want[e]);
                            worst = Math.max(worst, err);
                            assertTrue(err <= 2e-6, shape + ": sequence " + b + " position " + p + " head " + h + " dim " + e
                                    + ": " + got + " vs float64 " + want[e]);
                        }
                    }
                }
            }
            assertTrue(worst > 0 || dv == 0, "compared something");
        }
    }

    /**
     * The same sequence prefilled at once, in random chunks, one token at a time (decode), next to
     * other sequences, on 1, 2 and 3 threads: every output row has the same bits.
     */
    @Test
    void rowBitsDoNotDependOnHowTheSequenceWasStepped() {
        SplittableRandom rnd = new SplittableRandom(23);
        int[][] shapes = {{4, 4, 48, 48}, {8, 2, 64, 64}, {4, 1, 40, 24}, {2, 2, 17, 33}, {16, 16, 128, 128}};
        for (int[] shape : shapes) {
            int heads = shape[0], kvHeads = shape[1], dk = shape[2], dv = shape[3];
            float scale = (float) (1 / Math.sqrt(dk));
            int len = 2 * BLOCK + 1 + rnd.nextInt(BLOCK);
            Seq seq = Seq.random(len, heads, kvHeads, dk, dv, rnd), other = Seq.random(len, heads, kvHeads, dk, dv, rnd);
            float[] once;
            try (Parallel one = new Parallel(1)) {
                once = run(one, new Seq[] {seq}, new int[][] {{len}}, heads, kvHeads, dk, dv, scale)[0];
            }
            int[] decode = new int[len];
            java.util.Arrays.fill(decode, 1);
            int[] chunks = new int[len], otherChunks = new int[len];
            for (int done = 0, s = 0; done < len; s++) {
                chunks[s] = Math.min(len - done, 1 + rnd.nextInt(BLOCK + 5));
                done += chunks[s];
            }
            for (int s = 0; s < len; s++) otherChunks[s] = s == 0 ? len : 0;
            String what = "heads=" + heads + " kvHeads=" + kvHeads + " dk=" + dk + " dv=" + dv + " len=" + len;
            for (int threads = 1; threads <= 3; threads++) {
                try (Parallel team = new Parallel(threads)) {
                    same(once, run(team, new Seq[] {seq}, new int[][] {decode}, heads, kvHeads, dk, dv, scale)[0], what + " decode, threads=" + threads);
                    same(once, run(team, new Seq[] {other, seq}, new int[][] {otherChunks, chunks}, heads, kvHeads, dk, dv, scale)[1],
                            what + " chunked beside another sequence, threads=" + threads);
                    same(once, run(team, new Seq[] {seq}, new int[][] {{len}}, heads, kvHeads, dk, dv, scale)[0], what + " prefill, threads=" + threads);
                }
            }
        }
    }

    private static void same(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + ": element " + i);
        }
    }

    /** The lane exp against Math.exp on [-87, 0]: within 2 ulp of the float result (relative 2.4e-7). */
    @Test
    void laneExpIsWithinTwoUlp() {
        var f = FloatVector.SPECIES_PREFERRED;
        SplittableRandom rnd = new SplittableRandom(5);
        float[] x = new float[f.length()], y = new float[f.length()];
        for (int trial = 0; trial < 200_000; trial++) {
            for (int i = 0; i < x.length; i++) x[i] = trial < 100 ? -trial * 0.87f - i * 0.01f : (float) (-rnd.nextDouble() * (trial % 2 == 0 ? 87 : 1));
            CachedAttention.exp(FloatVector.fromArray(f, x, 0)).intoArray(y, 0);
            for (int i = 0; i < x.length; i++) {
                double want = Math.exp(x[i]);
                assertTrue(Math.abs(y[i] - want) <= 2 * Math.ulp((float) want), "exp(" + x[i] + ") = " + y[i] + ", Math.exp " + want);
            }
        }
    }
}
