package capmoe.runtime;

import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.routing.Routing;
import capmoe.runtime.moe.Dispatch;
import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The grouped Experts stage for Q8_0/Q4_0 experts ({@link QuantizedExperts}, reached through
 * {@link SwiGluExperts#runAll}) on random shapes with ragged edges: H and I not multiples of the
 * 16-row decode group, experts with 0, 1–3 (the in-lane GEMV), 4+ and more than 64 rows (several
 * row blocks), a hot expert, a share of the experts.
 */
class QuantizedExpertsTest {

    private static SwiGluExperts experts(DType format, int e, int h, int in, long seed, Arena arena) {
        SplittableRandom r = new SplittableRandom(seed);
        List<SwiGluExperts.Expert> list = new ArrayList<>();
        for (int x = 0; x < e; x++) {
            Matrix[] m = new Matrix[3];
            int[][] shapes = {{in, h}, {in, h}, {h, in}};
            for (int p = 0; p < 3; p++) {
                int n = shapes[p][0] * shapes[p][1];
                float[] v = new float[n];
                for (int k = 0; k < n; k++) v[k] = (float) ((r.nextDouble() * 2 - 1) / Math.sqrt(shapes[p][1]) * 2);
                MemorySegment seg = arena.allocate(format.bytes(n));
                Quantizer.quantize(format, v, 0, n, seg, 0);
                m[p] = new Matrix("e" + x + "p" + p, format, shapes[p][0], shapes[p][1], seg);
            }
            list.add(new SwiGluExperts.Expert(m[0], m[1], m[2]));
        }
        return new SwiGluExperts(list, h, in);
    }

    /** Token t picks expert 0 (hot), then k-1 others drawn at random from 1..e-2; expert e-1 is never chosen. */
    private static Dispatch dispatch(int tokens, int e, int k, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] offsets = new int[tokens + 1];
        List<Integer> ids = new ArrayList<>();
        List<Float> ws = new ArrayList<>();
        for (int t = 0; t < tokens; t++) {
            boolean[] used = new boolean[e];
            used[0] = true;
            for (int c = 1; c < k && c < e - 1; c++) {
                int x;
                do x = 1 + r.nextInt(e - 2); while (used[x]);
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

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    /** A row rounded to Q8_0 in float64: {q·d, d} per element (d = fp16(amax/127), q = rint(x·127/amax)). */
    private static double[][] q8(double[] x) {
        double[] v = new double[x.length], step = new double[x.length];
        for (int b = 0; b < x.length; b += 32) {
            double amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]));
            double d = Float.float16ToFloat(Float.floatToFloat16((float) amax / 127f));
            for (int j = 0; j < 32; j++) {
                v[b + j] = amax == 0 ? 0 : Math.rint(x[b + j] * 127 / amax) * d;
                step[b + j] = d;
            }
        }
        return new double[][] {v, step};
    }

    /**
     * Against float64: y = down(q8(silu(gate·q8(x)) · up·q8(x))) per slot, from the dequantized
     * weights. Tolerance: each hidden value may land one Q8_0 step away from float64's (a value
     * within fp32 noise of a rounding boundary; fp32 act vs float64 act), so Σ_j |down_cj|·step_j,
     * plus (K/16 + 5)·2^-24 of Σ|terms| per projection (QuantMatMulTest's fp32 bound) carried
     * through. A wrong row, column, expert or activation is off by the size of y itself.
     */
    @Test
    void groupedQuantizedExpertsMatchFloat64OnRaggedShapes() {
        int[][] shapes = {{96, 64, 5, 3, 9}, {160, 96, 6, 2, 1}, {64, 224, 4, 4, 70}, {224, 32, 8, 4, 33}};
        try (Arena arena = Arena.ofShared(); Parallel three = new Parallel(3)) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                for (int[] s : shapes) {
                    int h = s[0], in = s[1], e = s[2], k = s[3], tokens = s[4];
                    SwiGluExperts experts = experts(format, e, h, in, h * 31L + in, arena);
                    Dispatch d = dispatch(tokens, e, k, tokens);
                    float[] x = random(tokens * h, in);
                    float[] y = new float[d.pairs() * h];
                    three.run(() -> experts.runAll(d, allExperts(e), x, y));
                    for (int ex = 0; ex < e; ex++) {
                        SwiGluExperts.Expert w = experts.expert(ex);
                        for (int slot = d.start(ex); slot < d.start(ex) + d.rows(ex); slot++) {
                            int t = d.token(slot);
                            double[] xt = new double[h];
                            for (int c = 0; c < h; c++) xt[c] = x[t * h + c];
                            double[] xq = q8(xt)[0];
                            double[] act = new double[in];
                            double actNoise = 0;
                            for (int j = 0; j < in; j++) {
                                double g = 0, u = 0, mg = 0, mu = 0;
                                for (int c = 0; c < h; c++) {
                                    g += xq[c] * w.gate().get(j, c);
                                    u += xq[c] * w.up().get(j, c);
                                    mg += Math.abs(xq[c] * w.gate().get(j, c));
                                    mu += Math.abs(xq[c] * w.up().get(j, c));
                                }
                                act[j] = g / (1 + Math.exp(-g)) * u;
                                actNoise = Math.max(actNoise, (h / 16.0 + 5) * 0x1p-24 * (mg * Math.abs(u) + mu * Math.abs(g)) * 2 + 1e-6 * Math.abs(act[j]));
                            }
                            double[][] aq = q8(act);
                            for (int c = 0; c < h; c++) {
                                double ref = 0, mag = 0, flips = 0;
                                for (int j = 0; j < in; j++) {
                                    double wd = w.down().get(c, j);
                                    ref += aq[0][j] * wd;
                                    mag += Math.abs(aq[0][j] * wd);
                                    flips += Math.abs(wd) * (aq[1][j] * 1.001 + actNoise);
                                }
                                assertEquals(ref, y[slot * h + c], flips + (in / 16.0 + 5) * 0x1p-24 * mag,
                                        format + " h=" + h + " i=" + in + ": expert " + ex + " slot " + slot + " column " + c);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The grouped stage gives {@link SwiGluExperts#apply}'s bits (the per-expert path, one row at a
     * time: the decode GEMV; all of an expert's rows at once: the decoded tiles), for any team size
     * and any share of the experts (an in-JVM device's list).
     */
    @Test
    void groupedQuantizedExpertsGiveApplysBitsOnAnyTeamAndShare() {
        int h = 96, in = 160, e = 7, tokens = 75;
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel four = new Parallel(4)) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                SwiGluExperts experts = experts(format, e, h, in, 5, arena);
                Dispatch d = dispatch(tokens, e, 3, 11);
                float[] x = random(tokens * h, 12);
                float[] ref = new float[d.pairs() * h], batched = new float[d.pairs() * h];
                for (int ex = 0; ex < e; ex++) {
                    int rows = d.rows(ex);
                    if (rows == 0) continue;
                    float[] in1 = new float[rows * h], out = new float[rows * h];
                    d.gather(ex, x, h, in1);
                    experts.apply(ex, in1, out, rows);
                    System.arraycopy(out, 0, batched, d.start(ex) * h, rows * h);
                    for (int slot = d.start(ex); slot < d.start(ex) + rows; slot++) {
                        float[] row = Arrays.copyOfRange(x, d.token(slot) * h, (d.token(slot) + 1) * h), o = new float[h];
                        experts.apply(ex, row, o, 1);
                        System.arraycopy(o, 0, ref, slot * h, h);
                    }
                }
                assertBits(ref, batched, format + " apply one row vs all of an expert's rows");
                for (Parallel team : new Parallel[] {one, four}) {
                    float[] all = new float[d.pairs() * h];
                    team.run(() -> experts.runAll(d, allExperts(e), x, all));
                    assertBits(ref, all, format + " all experts on " + team.threads() + " threads");
                    float[] share = new float[d.pairs() * h];
                    int[] odd = {1, 3, 5};
                    team.run(() -> experts.runAll(d, odd, x, share));
                    for (int ex : odd) {
                        assertBits(Arrays.copyOfRange(ref, d.start(ex) * h, (d.start(ex) + d.rows(ex)) * h),
                                Arrays.copyOfRange(share, d.start(ex) * h, (d.start(ex) + d.rows(ex)) * h),
                                format + " expert " + ex + " in a share of experts on " + team.threads() + " threads");
                    }
                }
            }
        }
    }

    private static int[] allExperts(int e) {
        int[] a = new int[e];
        for (int i = 0; i < e; i++) a[i] = i;
        return a;
    }

    private static void assertBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                    what + ": element " + i + " " + expected[i] + " vs " + actual[i]);
        }
    }
}
