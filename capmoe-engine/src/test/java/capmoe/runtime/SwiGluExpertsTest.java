package capmoe.runtime;

import capmoe.kernels.DotMode;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.runtime.moe.Dispatch;
import capmoe.weights.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static capmoe.runtime.ExpertsFixtures.allExperts;
import static capmoe.runtime.ExpertsFixtures.applyRowByRow;
import static capmoe.runtime.ExpertsFixtures.assertRunAllGives;
import static capmoe.runtime.ExpertsFixtures.assertBits;
import static capmoe.runtime.ExpertsFixtures.dispatch;
import static capmoe.runtime.ExpertsFixtures.random;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The grouped Experts stage ({@link SwiGluExperts#runAll}: gather, gate/up GEMM with SwiGLU in
 * its epilogue, down GEMM, parallel over (expert, rows, tile)) on random shapes with ragged
 * edges: hidden and intermediate sizes that are not multiples of the vector block (tails), row
 * counts that are not multiples of the 4-row tile, experts with no rows, one hot expert.
 */
class SwiGluExpertsTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Experts with random weights stored in {@code dtype}; {@code exact} receives the stored values as doubles [expert][gate, up, down][...]. */
    private static SwiGluExperts experts(DType dtype, int e, int h, int i, long seed, double[][][] exact, Arena arena) {
        return experts(dtype, DotMode.EXACT, e, h, i, seed, exact, arena);
    }

    private static SwiGluExperts experts(DType dtype, DotMode dot, int e, int h, int i, long seed, double[][][] exact, Arena arena) {
        return ExpertsFixtures.experts(e, h, i, seed, (x, p, rows, cols, v) -> {
            MemorySegment seg = arena.allocate(2L * v.length + 2).asSlice(2);
            exact[x][p] = new double[v.length];
            for (int k = 0; k < v.length; k++) {
                short bits = dtype == DType.F16 ? Float.floatToFloat16(v[k]) : (short) (Float.floatToRawIntBits(v[k]) >>> 16);
                seg.setAtIndex(I16, k, bits);
                exact[x][p][k] = dtype == DType.F16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat((bits & 0xFFFF) << 16);
            }
            return new Matrix("e" + x + "p" + p, dtype, rows, cols, seg, dot);
        });
    }

    /**
     * Against float64: y = down(silu(gate x) * up x) per slot, from the exact stored weights.
     * Tolerance 1e-5 · sqrt(K) per projection: fp32 accumulation of K products of size ~1/sqrt(K)
     * errs by about sqrt(K) ulps of the sum (random-walk rounding), far below 1e-5 · sqrt(K); a wrong
     * column, row, tail or activation is off by O(0.1).
     */
    @Test
    void groupedExpertsMatchFloat64OnRaggedShapes() {
        int[][] shapes = {{37, 45, 5, 3, 9}, {64, 96, 8, 4, 33}, {131, 70, 6, 2, 1}, {200, 129, 4, 4, 17}, {256, 512, 4, 2, 40}};
        try (Arena arena = Arena.ofShared(); Parallel three = new Parallel(3)) {
            for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
                for (int[] s : shapes) {
                    int h = s[0], in = s[1], e = s[2], k = s[3], tokens = s[4];
                    double[][][] w = new double[e][3][];
                    SwiGluExperts experts = experts(dtype, e, h, in, h * 31L + in, w, arena);
                    Dispatch d = dispatch(tokens, e, k, tokens);
                    float[] x = random(tokens * h, in);
                    float[] y = new float[d.pairs() * h];
                    three.run(() -> experts.runAll(d, allExperts(e), x, y));
                    for (int ex = 0; ex < e; ex++) {
                        for (int slot = d.start(ex); slot < d.start(ex) + d.rows(ex); slot++) {
                            int t = d.token(slot);
                            double[] act = new double[in];
                            for (int j = 0; j < in; j++) {
                                double g = 0, u = 0;
                                for (int c = 0; c < h; c++) {
                                    g += x[t * h + c] * w[ex][0][j * h + c];
                                    u += x[t * h + c] * w[ex][1][j * h + c];
                                }
                                act[j] = g / (1 + Math.exp(-g)) * u;
                            }
                            for (int c = 0; c < h; c++) {
                                double ref = 0;
                                for (int j = 0; j < in; j++) ref += act[j] * w[ex][2][c * in + j];
                                assertEquals(ref, y[slot * h + c], 1e-5 * (Math.sqrt(h) + Math.sqrt(in)),
                                        dtype + " h=" + h + " i=" + in + ": expert " + ex + " slot " + slot + " column " + c);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The grouped stage gives {@link SwiGluExperts#apply}'s bits (what the distributed runtime and
     * the per-expert path compute), for any team size and for any share of the experts (an
     * in-JVM device's list): a row's result never depends on which rows or experts run beside it.
     * Also reduced BF16, whose grouped path rounds each gathered and hidden row to bf16 once
     * ({@code FloatGemms.REDUCED_BF16}) where {@code apply} rounds per call: H = 75 has a VEC_DOT
     * tail, I = 131 a last tile of 3 columns (a pair split at the end, padding).
     */
    @Test
    void groupedExpertsGiveApplysBitsOnAnyTeamAndShare() {
        int e = 7, tokens = 23;
        // widths that are multiples of 256 take MatMul.stride's padded rows in the grouped buffers
        for (int[] shape : new int[][] {{75, 52}, {256, 512}, {75, 131}})
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel four = new Parallel(4)) {
            int h = shape[0], in = shape[1];
            for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
                SwiGluExperts experts = experts(dtype, e, h, in, 5, new double[e][3][], arena);
                Dispatch d = dispatch(tokens, e, 3, 11);
                float[] x = random(tokens * h, 12);
                assertRunAllGives(applyRowByRow(experts, d, x, h), experts, d, x, h, dtype.toString(), one, four);
            }
            SwiGluExperts reduced = experts(DType.BF16, DotMode.REDUCED, e, h, in, 5, new double[e][3][], arena);
            Dispatch d = dispatch(tokens, e, 3, 11);
            float[] x = random(tokens * h, 12);
            assertRunAllGives(applyRowByRow(reduced, d, x, h), reduced, d, x, h, "BF16 reduced", one, four);
        }
    }

}
