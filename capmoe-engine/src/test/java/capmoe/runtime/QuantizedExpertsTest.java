package capmoe.runtime;

import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.runtime.moe.Dispatch;
import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static capmoe.runtime.ExpertsFixtures.allExperts;
import static capmoe.runtime.ExpertsFixtures.applyRowByRow;
import static capmoe.runtime.ExpertsFixtures.assertRunAllGives;
import static capmoe.runtime.ExpertsFixtures.assertBits;
import static capmoe.runtime.ExpertsFixtures.dispatch;
import static capmoe.runtime.ExpertsFixtures.random;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The grouped Experts stage for Q8_0/Q4_0 experts ({@link QuantizedExperts}, reached through
 * {@link SwiGluExperts#runAll}) on random shapes with ragged edges: H and I not multiples of the
 * {@link capmoe.kernels.Panels#NR}-column panel, experts with 0, 1 (the in-lane decode kernel), 2+
 * (the decoded-block tiles) and more than 64 rows (several row blocks), a hot expert, a share of the
 * experts.
 */
class QuantizedExpertsTest {

    private static SwiGluExperts experts(DType format, int e, int h, int in, long seed, Arena arena) {
        return ExpertsFixtures.experts(e, h, in, seed, (x, p, rows, cols, v) -> {
            MemorySegment seg = arena.allocate(format.bytes(v.length));
            Quantizer.quantize(format, v, 0, v.length, seg, 0);
            return new Matrix("e" + x + "p" + p, format, rows, cols, seg);
        });
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
     * plus (K + 1)·2^-24 of Σ|terms| per projection (QuantMatMulTest's fp32 bound) carried
     * through. A wrong row, column, expert or activation is off by the size of y itself.
     */
    @Test
    void groupedQuantizedExpertsMatchFloat64OnRaggedShapes() {
        int[][] shapes = {{96, 64, 5, 3, 9}, {160, 96, 6, 2, 1}, {64, 224, 4, 4, 70}, {224, 32, 8, 4, 33}, {256, 288, 4, 2, 30}};
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
                                actNoise = Math.max(actNoise, (h + 1.0) * 0x1p-24 * (mg * Math.abs(u) + mu * Math.abs(g)) * 2 + 1e-6 * Math.abs(act[j]));
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
                                assertEquals(ref, y[slot * h + c], flips + (in + 1.0) * 0x1p-24 * mag,
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
     * time: the in-lane decode kernel; all of an expert's rows at once: the decoded-block tiles), for any team size
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
                float[] ref = applyRowByRow(experts, d, x, h), batched = new float[d.pairs() * h];
                for (int ex = 0; ex < e; ex++) {
                    int rows = d.rows(ex);
                    if (rows == 0) continue;
                    float[] in1 = new float[rows * h], out = new float[rows * h];
                    d.gather(ex, x, h, in1);
                    experts.apply(ex, in1, out, rows);
                    System.arraycopy(out, 0, batched, d.start(ex) * h, rows * h);
                }
                assertBits(ref, batched, format + " apply one row vs all of an expert's rows");
                assertRunAllGives(ref, experts, d, x, h, format.toString(), one, four);
            }
        }
    }

}
