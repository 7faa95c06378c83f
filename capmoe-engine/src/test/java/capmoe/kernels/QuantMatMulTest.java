package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The quantized matmul against float64 scalar code, on ragged shapes (rows not a multiple of the
 * 4-row tile, N odd, K from one block up):
 * <ol>
 *   <li>the same math in float64 — Σ_blocks d_w·d_x·Σ q_w·q_x over llama.cpp's Q8_0 activations —
 *       to 1e-6 of Σ|terms| (fp32 accumulation of exact integer block sums);
 *   <li>the exact product of x and the dequantized weights, within the activation rounding bound
 *       Σ_k |w_k|·d_x/2 (each activation moves by at most half its step);
 *   <li>a row's result does not depend on the other rows in the batch or the thread count (bit for bit).
 * </ol>
 */
class QuantMatMulTest {

    static Matrix quantized(DType format, int n, int k, float[] values, Arena arena) {
        MemorySegment seg = arena.allocate(format.bytes((long) n * k) + 1).asSlice(1);   // unaligned on purpose
        Quantizer.quantize(format, values, 0, n * k, seg, 0);
        return new Matrix("w", format, n, k, seg);
    }

    @Test
    void matchesFloat64OnRaggedShapes() {
        int[][] shapes = {{1, 32, 1}, {3, 96, 7}, {4, 64, 2}, {5, 160, 9}, {9, 512, 33}, {13, 2048, 3}};
        try (Arena arena = Arena.ofShared()) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                for (int[] s : shapes) {
                    int rows = s[0], k = s[1], n = s[2];
                    float[] x = KernelsTest.random(rows * k, 1), bias = KernelsTest.random(n, 3);
                    Matrix w = quantized(format, n, k, KernelsTest.random(n * k, 2), arena);
                    float[] y = new float[rows * n];
                    MatMul.matmul(x, rows, w, bias, y);
                    QuantMatMul.Q8Rows a = QuantMatMul.quantizeActivations(x, rows, k);
                    String where = format + " " + rows + "x" + k + "x" + n;
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < n; j++) {
                            double same = 0, mag = 0, exact = 0, bound = 0;
                            for (int b = 0; b < k / 32; b++) {
                                double dx = a.d()[r * k / 32 + b];
                                for (int c = b * 32; c < b * 32 + 32; c++) {
                                    double wv = w.get(j, c);
                                    double term = wv * a.q()[r * k + c];
                                    same += term * dx;
                                    mag += Math.abs(term * dx);
                                    exact += wv * x[r * k + c];
                                    bound += Math.abs(wv) * dx / 2;
                                }
                            }
                            float got = y[r * n + j] - bias[j];
                            assertEquals(same, got, 1e-6 * mag + 1e-30, where + " at " + r + "," + j + " (same math)");
                            assertEquals(exact, got, bound * 1.001 + 1e-6 * mag, where + " at " + r + "," + j + " (exact product)");
                        }
                    }
                }
            }
        }
    }

    @Test
    void aRowDoesNotDependOnTheBatchOrThePool() {
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                int rows = 7, k = 256, n = 21;
                float[] x = KernelsTest.random(rows * k, 4);
                Matrix w = quantized(format, n, k, KernelsTest.random(n * k, 5), arena);
                float[] all = new float[rows * n], pooled = new float[rows * n];
                one.run(() -> MatMul.matmul(x, rows, w, all));
                three.run(() -> MatMul.matmul(x, rows, w, pooled));
                assertArrayEquals(all, pooled, format + ": thread count changed bits");
                for (int r = 0; r < rows; r++) {
                    float[] alone = new float[n];
                    MatMul.matmul(Arrays.copyOfRange(x, r * k, (r + 1) * k), 1, w, alone);
                    assertArrayEquals(Arrays.copyOfRange(all, r * n, (r + 1) * n), alone, format + " row " + r + " alone vs in a batch of " + rows);
                }
            }
        }
    }

    @Test
    void activationsRoundAsLlamaCppsX86Quantizer() {
        // 127/amax scaling, round half to even: with amax = 127 the step is 1 and 2.5 -> 2, -3.5 -> -4
        float[] x = new float[32];
        x[0] = 127f; x[1] = 2.5f; x[2] = -3.5f; x[3] = 0.49f;
        QuantMatMul.Q8Rows a = QuantMatMul.quantizeActivations(x, 1, 32);
        assertEquals(1f, a.d()[0]);
        assertEquals(127, a.q()[0]);
        assertEquals(2, a.q()[1]);
        assertEquals(-4, a.q()[2]);
        assertEquals(0, a.q()[3]);
        QuantMatMul.Q8Rows zero = QuantMatMul.quantizeActivations(new float[32], 1, 32);
        assertTrue(zero.d()[0] == 0f && zero.q()[5] == 0);
    }
}
