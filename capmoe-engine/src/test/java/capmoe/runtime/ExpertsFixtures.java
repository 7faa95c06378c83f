package capmoe.runtime;

import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.routing.Routing;
import capmoe.runtime.moe.Dispatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What the grouped-experts tests ({@link SwiGluExpertsTest}, {@link QuantizedExpertsTest}) share: a routing with a hot expert, inputs, bitwise comparison. */
final class ExpertsFixtures {
    private ExpertsFixtures() { }

    /** Stores one projection's random values as a matrix: expert x, projection p (0 gate [I x H], 1 up [I x H], 2 down [H x I]). */
    interface Store {
        Matrix matrix(int x, int p, int rows, int cols, float[] values);
    }

    /** e experts of random weights, uniform in ±2/sqrt(cols), each projection made a matrix by {@code store}. */
    static SwiGluExperts experts(int e, int h, int in, long seed, Store store) {
        SplittableRandom r = new SplittableRandom(seed);
        List<SwiGluExperts.Expert> list = new ArrayList<>();
        for (int x = 0; x < e; x++) {
            Matrix[] m = new Matrix[3];
            int[][] shapes = {{in, h}, {in, h}, {h, in}};
            for (int p = 0; p < 3; p++) {
                float[] v = new float[shapes[p][0] * shapes[p][1]];
                for (int k = 0; k < v.length; k++) v[k] = (float) ((r.nextDouble() * 2 - 1) / Math.sqrt(shapes[p][1]) * 2);
                m[p] = store.matrix(x, p, shapes[p][0], shapes[p][1], v);
            }
            list.add(new SwiGluExperts.Expert(m[0], m[1], m[2]));
        }
        return new SwiGluExperts(list, h, in);
    }

    /** Random top-k routing over {@code e} experts, sorted into a dispatch; expert 0 is hot (every token keeps it), expert e-1 never chosen. */
    static Dispatch dispatch(int tokens, int e, int k, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] offsets = new int[tokens + 1];
        List<Integer> ids = new ArrayList<>();
        List<Float> ws = new ArrayList<>();
        for (int t = 0; t < tokens; t++) {
            boolean[] used = new boolean[e];
            used[0] = true;
            for (int c = 1; c < k && c < e - 1; c++) {
                int x;
                do x = r.nextInt(e - 1); while (used[x]);
                used[x] = true;
            }
            for (int x = 0; x < e; x++) {
                if (!used[x]) continue;
                ids.add(x);
                ws.add((float) r.nextDouble());
            }
            offsets[t + 1] = ids.size();
        }
        float[] w = new float[ws.size()];
        for (int p = 0; p < w.length; p++) w[p] = ws.get(p);
        return Dispatch.sort(new Routing(tokens, e, offsets, ids.stream().mapToInt(Integer::intValue).toArray(), w, null), e);
    }

    /** n values uniform in [-1, 1). */
    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    /** 0 .. e-1: every expert in the list of a runAll call. */
    static int[] allExperts(int e) {
        int[] a = new int[e];
        for (int i = 0; i < e; i++) a[i] = i;
        return a;
    }

    /** Each slot's row of x through {@link SwiGluExperts#apply} alone (one row at a time), at the slot's place: what a grouped run must give bit for bit. */
    static float[] applyRowByRow(SwiGluExperts experts, Dispatch d, float[] x, int h) {
        float[] ref = new float[d.pairs() * h];
        for (int ex = 0; ex < experts.count(); ex++) {
            for (int slot = d.start(ex); slot < d.start(ex) + d.rows(ex); slot++) {
                float[] row = Arrays.copyOfRange(x, d.token(slot) * h, (d.token(slot) + 1) * h), out = new float[h];
                experts.apply(ex, row, out, 1);
                System.arraycopy(out, 0, ref, slot * h, h);
            }
        }
        return ref;
    }

    /** {@link SwiGluExperts#runAll} on every team, over all experts and over the share {1, 3, 5} (an in-JVM device's list), gives {@code ref}'s bits. */
    static void assertRunAllGives(float[] ref, SwiGluExperts experts, Dispatch d, float[] x, int h, String what, Parallel... teams) {
        for (Parallel team : teams) {
            float[] all = new float[d.pairs() * h];
            team.run(() -> experts.runAll(d, allExperts(experts.count()), x, all));
            assertBits(ref, all, what + " all experts on " + team.threads() + " threads");
            float[] share = new float[d.pairs() * h];
            int[] odd = {1, 3, 5};
            team.run(() -> experts.runAll(d, odd, x, share));
            for (int ex : odd) {
                assertBits(Arrays.copyOfRange(ref, d.start(ex) * h, (d.start(ex) + d.rows(ex)) * h),
                        Arrays.copyOfRange(share, d.start(ex) * h, (d.start(ex) + d.rows(ex)) * h),
                        what + " expert " + ex + " in a share of experts on " + team.threads() + " threads");
            }
        }
    }

    static void assertBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                    what + ": element " + i + " " + expected[i] + " vs " + actual[i]);
        }
    }
}
