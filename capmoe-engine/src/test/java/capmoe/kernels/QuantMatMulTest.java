package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The quantized matmul ({@link QuantMatMul} over {@link QuantPanels}) against scalar code, on ragged
 * shapes: rows below and above the tile threshold and not multiples of the 12/8/4-row tiles, more
 * than one 240-row block; N not a multiple of the {@link Panels#NR}-column panel (a partial last
 * panel, an odd number of panels for the two-panel decode kernel); K = 32·odd, over one and several
 * K blocks:
 * <ol>
 *   <li>bits: every output equals {@link QuantMatMul#reference}, the scalar fused multiply-add chain
 *       over the Q8_0 activations and the weights as the panels hold them, exactly;</li>
 *   <li>the same math in float64 — Σ_k x_q[k]·w[k] with x_q the row rounded to Q8_0 by this test's
 *       own scalar code (llama.cpp's x86 rounding) — within (K + 1)·2^-24·Σ|x_q·w|: a chain of K
 *       fused steps, each rounding by at most 2^-24 of a partial sum bounded by Σ|terms| (the
 *       standard recursive-summation bound);
 *   <li>the exact product of x and the dequantized weights, within the activation rounding bound
 *       Σ_k |w_k|·d_x/2 (each activation moves by at most half its step) plus the bound above;
 *   <li>a row's result does not depend on the other rows in the batch (the decode kernel for one
 *       row, the decoded-block tiles in a batch), its position or the thread count (bit for bit);
 *   <li>the panels hold ggml's dequantized weights ({@link Quantizer#get}) exactly (pack round trip),
 *       and zeros past N.
 * </ol>
 */
class QuantMatMulTest {

    static Matrix quantized(DType format, int n, int k, float[] values, Arena arena) {
        MemorySegment seg = arena.allocate(format.bytes((long) n * k) + 1).asSlice(1);   // unaligned on purpose
        Quantizer.quantize(format, values, 0, n * k, seg, 0);
        return new Matrix("w", format, n, k, seg);
    }

    /** A row rounded to Q8_0 in float64-friendly scalar code: d = fp16(amax/127), q = rint(x·127/amax); returns {q·d, d} per element. */
    static double[][] q8Reference(float[] x, int from, int k) {
        double[] v = new double[k], step = new double[k];
        for (int b = 0; b < k; b += 32) {
            float amax = 0f;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[from + b + j]));
            float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
            float id = amax == 0f ? 0f : 127f / amax;
            for (int j = 0; j < 32; j++) {
                v[b + j] = Math.rint(x[from + b + j] * id) * (double) d;
                step[b + j] = d;
            }
        }
        return new double[][] {v, step};
    }

    @Test
    void matchesTheScalarChainAndFloat64OnRaggedShapes() {
        int nr = Panels.NR;
        int[][] shapes = {{1, 32, 1}, {1, 96, 2 * nr + 7}, {1, 160, 3 * nr}, {1, 64, nr + nr / 2}, {2, 96, 7}, {3, 64, 2}, {4, 160, nr + 9}, {5, 64, 17},
                {9, 288, 33}, {13, 416, 3 * nr + 3}, {37, 224, 35}, {70, 96, 19}, {251, 160, nr + 1}};
        try (Arena arena = Arena.ofShared(); Parallel three = new Parallel(3)) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                for (int[] s : shapes) {
                    int rows = s[0], k = s[1], n = s[2];
                    float[] x = KernelsTest.random(rows * k, 1), bias = KernelsTest.random(n, 3);
                    Matrix w = quantized(format, n, k, KernelsTest.random(n * k, 2), arena);
                    float[] y = new float[rows * n];
                    three.run(() -> MatMul.matmul(x, rows, w, bias, y));
                    String where = format + " " + rows + "x" + k + "x" + n;
                    double fp32 = (k + 1) * 0x1p-24;
                    float[] xq = new float[k];
                    for (int r = 0; r < rows; r++) {
                        double[][] ref = q8Reference(x, r * k, k);
                        for (int c = 0; c < k; c++) xq[c] = (float) ref[0][c];
                        for (int j = 0; j < n; j++) {
                            float chain = QuantMatMul.reference(xq, 0, w.quantPanels(), j) + bias[j];
                            assertEquals(Float.floatToRawIntBits(chain), Float.floatToRawIntBits(y[r * n + j]),
                                    where + " at " + r + "," + j + ": " + chain + " vs " + y[r * n + j] + " (scalar chain)");
                            double same = 0, mag = 0, exact = 0, bound = 0;
                            for (int c = 0; c < k; c++) {
                                double wv = w.get(j, c);
                                same += wv * ref[0][c];
                                mag += Math.abs(wv * ref[0][c]);
                                exact += wv * x[r * k + c];
                                bound += Math.abs(wv) * ref[1][c] / 2;
                            }
                            double got = (double) y[r * n + j] - bias[j];
                            double biasUlp = Math.ulp(y[r * n + j]);          // the bias is added in fp32
                            assertEquals(same, got, fp32 * mag + biasUlp, where + " at " + r + "," + j + " (same math)");
                            assertEquals(exact, got, bound * 1.001 + fp32 * mag + biasUlp, where + " at " + r + "," + j + " (exact product)");
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
                for (int rows : new int[] {3, 7, 45}) {
                    int k = 288, n = rows == 7 ? Panels.NR + 5 : 2 * Panels.NR + 21;
                    float[] x = KernelsTest.random(rows * k, 4 + rows);
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
                    // the same row at another position, among other rows
                    float[] shifted = new float[(rows + 5) * k];
                    System.arraycopy(KernelsTest.random(5 * k, 9), 0, shifted, 0, 5 * k);
                    System.arraycopy(x, 0, shifted, 5 * k, rows * k);
                    float[] out = new float[(rows + 5) * n];
                    three.run(() -> MatMul.matmul(shifted, rows + 5, w, out));
                    assertArrayEquals(all, Arrays.copyOfRange(out, 5 * n, (rows + 5) * n), format + ": rows moved by 5 changed bits");
                }
            }
        }
    }

    @Test
    void panelsHoldGgmlsDequantizedWeights() {
        try (Arena arena = Arena.ofShared()) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                int n = Panels.NR + 5, k = 96;
                Matrix w = quantized(format, n, k, KernelsTest.random(n * k, 6), arena);
                QuantPanels p = QuantPanels.pack(w);
                assertEquals(2, p.panels());
                assertEquals(p.panels() * Panels.NR * format.bytes(k), p.data().byteSize(), format + ": the block format's bytes per weight");
                for (int j = 0; j < p.panels() * Panels.NR; j++) {
                    for (int c = 0; c < k; c++) {
                        float want = j < n ? Quantizer.get(format, w.data(), (long) j * k + c) : 0f;
                        assertEquals(want, p.get(j, c), 0f, format + " " + j + "," + c);
                    }
                }
            }
        }
    }

    @Test
    void activationsRoundAsLlamaCppsX86Quantizer() {
        // 127/amax scaling, round half to even: with amax = 127 the step is 1 and 2.5 -> 2, -3.5 -> -4
        float[] x = new float[32];
        x[0] = 127f; x[1] = 2.5f; x[2] = -3.5f; x[3] = 0.49f;
        float[] q = new float[32];
        QuantMatMul.dequantizedActivations(x, 0, 32, q, 0);
        assertEquals(127f, q[0]);
        assertEquals(2f, q[1]);
        assertEquals(-4f, q[2]);
        assertEquals(0f, q[3]);
        float[] zero = new float[32];
        QuantMatMul.dequantizedActivations(new float[32], 0, 32, zero, 0);
        assertArrayEquals(new float[32], zero);
        // a random row: exactly the scalar reference's q·d
        float[] r = KernelsTest.random(256, 8), got = new float[256];
        QuantMatMul.dequantizedActivations(r, 0, 256, got, 0);
        double[] ref = q8Reference(r, 0, 256)[0];
        for (int c = 0; c < 256; c++) assertEquals(ref[c], got[c], 0.0, "element " + c);
    }
}
