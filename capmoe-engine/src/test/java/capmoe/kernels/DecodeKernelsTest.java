package capmoe.kernels;

import capmoe.weights.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The fused forms a decode step uses, each against the unfused operations it replaces, bit for
 * bit: several matrices in one matmul phase, and the residual add fused with the next RMSNorm.
 */
class DecodeKernelsTest {

    private static void assertBits(float[] expected, float[] actual, int n, String what) {
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                    what + " at " + i + ": " + expected[i] + " vs " + actual[i]);
        }
    }

    /**
     * q/k/v in one phase: the columns of three matrices (odd widths, so a pair of columns and a
     * task's range straddle two matrices) split over the team as one range; with K = 2048 a task
     * holds 16 columns, so 1 to 9 rows make several tasks on 3 threads. Mixed dtypes and a
     * quantized-free fallback go one matmul each. Every output equals its own matmul's.
     */
    @Test
    void severalMatricesInOnePhaseGiveEachMatmulsBits() {
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            int[][] shapes = {{1, 2048}, {3, 2048}, {9, 300}, {2, 37}};
            for (DType dtype : new DType[] {DType.BF16, DType.F16, DType.F32}) {
                for (int[] s : shapes) {
                    int rows = s[0], k = s[1];
                    int[] widths = {37, 21, 21};
                    Matrix[] w = new Matrix[3];
                    float[][] bias = new float[3][], single = new float[3][], fused = new float[3][];
                    for (int i = 0; i < 3; i++) {
                        // the last matrix is F32 in one case: mixed dtypes fall back to one phase each
                        DType d = dtype == DType.F16 && i == 2 && rows == 3 ? DType.F32 : dtype;
                        w[i] = KernelsTest.matrix(d, widths[i], k, KernelsTest.random(widths[i] * k, 10 + i), arena);
                        bias[i] = i == 1 ? null : KernelsTest.random(widths[i], 20 + i);
                        single[i] = new float[rows * widths[i]];
                        fused[i] = new float[rows * widths[i]];
                    }
                    float[] x = KernelsTest.random(rows * k, 30 + rows);
                    for (Parallel team : new Parallel[] {one, three}) {
                        team.run(() -> {
                            for (int i = 0; i < 3; i++) MatMul.matmul(x, rows, w[i], bias[i], single[i]);
                            MatMul.matmul(x, rows, w, bias, fused);
                        });
                        for (int i = 0; i < 3; i++) {
                            assertBits(single[i], fused[i], rows * widths[i], dtype + " " + rows + "x" + k + " matrix " + i + " on " + team.threads());
                        }
                    }
                }
            }
        }
    }

    /** A task of a matmul phase is the fewest whole panels that hold at least MIN_TASK_WORK multiply-adds (one at least). */
    @Test
    void matmulTasksAreSizedByWork() {
        for (int[] s : new int[][] {{1, 2048}, {512, 2048}, {1, 192}, {3, 37}}) {
            long perPanel = (long) s[0] * s[1] * Panels.NR;
            int g = MatMul.grain(s[0], s[1]);
            org.junit.jupiter.api.Assertions.assertTrue(g >= 1 && g * perPanel >= Parallel.MIN_TASK_WORK
                    && (g == 1 || (g - 1) * perPanel < Parallel.MIN_TASK_WORK), s[0] + "x" + s[1] + ": " + g + " panels");
        }
        assertEquals(1, MatMul.grain(512, 2048));
        try (Parallel four = new Parallel(4)) {
            assertEquals(1, four.tasks(1000, 64));
            assertEquals(4, four.tasks(1L << 30, 64));
            assertEquals(3, four.tasks(1L << 30, 3));
        }
    }

    /** x += delta, then RMSNorm into out (or in place), equals the two passes, below and above the size that goes parallel. */
    @Test
    void residualAddFusedWithTheNextNormGivesTheTwoPassesBits() {
        try (Parallel three = new Parallel(3)) {
            for (int[] s : new int[][] {{1, 192}, {5, 37}, {40, 1000}, {64, 2048}}) {
                int rows = s[0], n = s[1];
                float[] x = KernelsTest.random(rows * n, 1), delta = KernelsTest.random(rows * n, 2), weight = KernelsTest.random(n, 3);
                float[] x1 = x.clone(), x2 = x.clone(), out1 = new float[rows * n], out2 = new float[rows * n];
                for (int i = 0; i < rows * n; i++) x1[i] += delta[i];
                RmsNorm.apply(x1, weight, 1e-5, rows, out1);
                three.run(() -> RmsNorm.addApply(x2, delta, weight, 1e-5, rows, out2));
                assertBits(x1, x2, rows * n, rows + "x" + n + " residual");
                assertBits(out1, out2, rows * n, rows + "x" + n + " normed");
                float[] inPlace = x.clone();
                three.run(() -> RmsNorm.addApply(inPlace, delta, weight, 1e-5, rows, inPlace));
                assertBits(out1, inPlace, rows * n, rows + "x" + n + " normed in place");
            }
        }
    }
}
