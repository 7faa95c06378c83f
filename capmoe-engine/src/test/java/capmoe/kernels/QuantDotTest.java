package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link QuantDot} ({@code --dot reduced} for Q8_0/Q4_0) against scalar code:
 * <ol>
 *   <li>{@link QuantDot#quantize}, on every native path (AVX-512, AVX2, portable C: those the CPU
 *       has), one row per call or several, equals this test's own scalar form of ggml's x86
 *       {@code quantize_row_q8_0} (round half to even written as floor + comparison, x86's
 *       conversion of NaN and overflow) bit for bit, on random rows, all-zero blocks, exact ties,
 *       huge values (fp16 scale overflowing to infinity), tiny ones (scale flushing to 0, id
 *       infinite) and subnormals;</li>
 *   <li>every output of every native kernel path (AVX-512 VNNI, AVX2, portable C: those the CPU
 *       has) equals llama.cpp's order computed here in Java from the quantized integers and fp16
 *       scales (Q8_0: eight lanes of fma(d_w·d_x, 4-product sum), then ((a0+a4)+(a2+a6)) +
 *       ((a1+a5)+(a3+a7)); Q4_0: one chain fma(block sum, d_w·d_x)) bit for bit, and float64's
 *       Σ d_w·q_w·d_x·q_x within (K/32 + 3)·2^-24·Σ|terms|: the integer sums and scale products are
 *       exact, and each of the at most K/32 fused steps of a lane plus the 3 adds of the final tree
 *       rounds once by at most 2^-24 of a partial sum bounded by Σ|terms|; on ragged shapes
 *       (K = 32..2080, N not a multiple of 16, 1..40 rows, over the 2-row and 6-row tiles);</li>
 *   <li>row independence: each row alone, in another batch, over other column ranges and thread
 *       counts gives the same bits; so do rows quantized in place of their floats
 *       ({@link QuantDot#IN_PLACE}, in column halves), and matrices multiplied together (one phase
 *       over panels and row blocks, split anywhere) give each matrix's own bits;</li>
 *   <li>the dot panels hold ggml's dequantized weights ({@link Quantizer#get}) exactly, whether packed
 *       from row-major blocks or from {@link QuantPanels}.</li>
 * </ol>
 * scripts/qdot-vs-ggml checks the same kernels against llama.cpp's compiled ones (needs its build).
 */
class QuantDotTest {

    @AfterEach
    void bestPath() {
        QuantDot.isa(2);
    }

    /** ggml's x86 quantize_row_q8_0, one block, scalar: q[32], d. */
    static int[] ggmlQuantize(float[] x, int from, float[] dOut, int at) {
        float amax = 0f;
        for (int i = 0; i < 32; i++) {
            float a = Math.abs(x[from + i]);
            if (a > amax) amax = a;
        }
        dOut[at] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
        float id = amax != 0f ? 127f / amax : 0f;
        int[] q = new int[32];
        for (int i = 0; i < 32; i++) {
            float v = x[from + i] * id;
            if (Float.isNaN(v) || Math.abs(v) >= 2147483648f) {
                q[i] = -128;                                   // vcvtps2dq's integer indefinite 0x80000000, saturated by the packs
                continue;
            }
            double f = Math.floor(v), frac = v - f;
            long r = frac > 0.5 ? (long) f + 1 : frac < 0.5 ? (long) f : ((long) f % 2 == 0 ? (long) f : (long) f + 1);
            q[i] = (int) Math.max(-128, Math.min(127, r));
        }
        return q;
    }

    static float[] specialRows(Random rnd, int k) {
        float[] x = new float[k];
        for (int i = 0; i < k; i++) x[i] = (float) rnd.nextGaussian();
        int blocks = k / 32;
        for (int b = 0; b < blocks; b++) {
            int o = 32 * b;
            switch (b % 9) {
                case 0 -> { }                                                               // random
                case 1 -> Arrays.fill(x, o, o + 32, 0f);                                    // all zero
                case 2 -> {                                                                 // ties: amax 127 gives id = 1
                    for (int i = 0; i < 32; i++) x[o + i] = (i % 2 == 0 ? 1 : -1) * (i + 0.5f);
                    x[o + 31] = -127f;
                }
                case 3 -> { for (int i = 0; i < 32; i++) x[o + i] *= 3e38f / 4; }             // fp16 scale overflows to infinity
                case 4 -> { for (int i = 0; i < 32; i++) x[o + i] *= 1e-9f; }                 // scale below fp16's range
                case 5 -> { for (int i = 0; i < 32; i++) x[o + i] = (i - 16) * 1e-39f; }      // subnormals: id infinite
                case 6 -> { for (int i = 0; i < 32; i++) x[o + i] = -Math.abs(x[o + i]) * 6e4f; } // negative maximum, near fp16's top
                case 7 -> { x[o + 5] = 1e-44f; for (int i = 0; i < 32; i++) if (i != 5) x[o + i] = 0; } // one subnormal alone
                default -> { for (int i = 0; i < 32; i++) x[o + i] = Math.round(x[o + i] * 8) / 8f; }
            }
        }
        return x;
    }

    @Test
    void quantizeIsGgmlsX86QuantizeRowQ80BitForBit() {
        Random rnd = new Random(7);
        for (int level = 2; level >= 0; level--) {
            int used = QuantDot.isa(level);
            for (int trial = 0; trial < 60; trial++) {
                int k = 32 * (1 + rnd.nextInt(40)), rows = 1 + trial % 3, xs = k + 7, os = QuantDot.rowBytes(k) + 3;
                float[] x = new float[3 + rows * xs];
                for (int r = 0; r < rows; r++) System.arraycopy(specialRows(rnd, k), 0, x, 3 + r * xs, k);
                byte[] out = new byte[rows * os + 5];
                if (trial % 2 == 0) {                       // one call for all rows
                    QuantDot.quantize(x, 3, xs, rows, k, MemorySegment.ofArray(out), 5, os, QuantDot.BLOCK_BYTES);
                } else {
                    for (int r = 0; r < rows; r++) QuantDot.quantize(x, 3 + r * xs, k, MemorySegment.ofArray(out), 5 + (long) r * os, QuantDot.BLOCK_BYTES);
                }
                ByteBuffer bb = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
                float[] d = new float[1];
                for (int r = 0; r < rows; r++) {
                    for (int b = 0; b < k / 32; b++) {
                        int[] q = ggmlQuantize(x, 3 + r * xs + 32 * b, d, 0);
                        int o = 5 + r * os + b * QuantDot.BLOCK_BYTES, total = 0;
                        String at = "path " + used + " trial " + trial + " row " + r + " block " + b;
                        for (int i = 0; i < 32; i++) assertEquals(q[i], out[o + i], at + " element " + i + " (x " + x[3 + r * xs + 32 * b + i] + ")");
                        for (int g = 0; g < 8; g++) {
                            int s = q[4 * g] + q[4 * g + 1] + q[4 * g + 2] + q[4 * g + 3];
                            total += s;
                            assertEquals(-128 * s, bb.getInt(o + 32 + 4 * g), at + " c8");
                        }
                        assertEquals(-8 * total, bb.getInt(o + 64), at + " c4");
                        assertEquals(Float.floatToRawIntBits(d[0]), Float.floatToRawIntBits(bb.getFloat(o + 68)), at + " scale");
                    }
                }
            }
        }
    }

    static Matrix reduced(DType format, int n, int k, Random rnd, Arena arena) {
        float[] w = new float[n * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.05);
        MemorySegment seg = arena.allocate(format.bytes((long) n * k));
        Quantizer.quantize(format, w, 0, n * k, seg, 0);
        return new Matrix("w", format, n, k, seg, DotMode.REDUCED);
    }

    /** llama.cpp's order for y[r, j] (see the class Javadoc) from the activation blocks and the matrix's ggml blocks; {sum|terms|, float64} in extra. */
    static float llamaOrder(byte[] xq, int x0, Matrix w, int j, double[] extra) {
        int k = w.cols(), nb = k / 32;
        ByteBuffer bb = ByteBuffer.wrap(xq).order(ByteOrder.LITTLE_ENDIAN);
        float[] lane = new float[8];
        float chain = 0;
        double exact = 0, mag = 0;
        for (int b = 0; b < nb; b++) {
            int o = x0 + b * QuantDot.BLOCK_BYTES;
            float dx = bb.getFloat(o + 68);
            long first = (long) j * k + 32L * b;
            float dw = Float.float16ToFloat(w.data().get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), w.dtype().bytes(first)));
            float dd = dw * dx;
            int block = 0;
            for (int g = 0; g < 8; g++) {
                int s = 0;
                for (int t = 0; t < 4; t++) {
                    int qw = Quantizer.quant(w.dtype(), w.data(), first + 4 * g + t), qx = xq[o + 4 * g + t];
                    s += qw * qx;
                    double term = (double) dw * qw * dx * qx;
                    exact += term;
                    mag += Math.abs(term);
                }
                lane[g] = Math.fma(dd, (float) s, lane[g]);
                block += s;
            }
            chain = Math.fma((float) block, dd, chain);
        }
        extra[0] = mag;
        extra[1] = exact;
        if (w.dtype() == DType.Q4_0) return chain;
        return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    }

    @Test
    void everyKernelPathIsLlamaCppsOrderAndWithinFloat64Bound() {
        Random rnd = new Random(11);
        int[][] shapes = {{1, 33, 32}, {2, 17, 96}, {3, 16, 64}, {5, 70, 160}, {6, 31, 2080}, {7, 1, 320}, {13, 47, 96}, {40, 50, 224}, {1, 200, 1024}};
        try (Arena arena = Arena.ofShared()) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                for (int[] s : shapes) {
                    int rows = s[0], n = s[1], k = s[2];
                    Matrix w = reduced(format, n, k, rnd, arena);
                    float[] x = new float[rows * k];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    int xs = QuantDot.rowBytes(k);
                    byte[] xq = new byte[rows * xs];
                    for (int r = 0; r < rows; r++) QuantDot.quantize(x, r * k, k, MemorySegment.ofArray(xq), (long) r * xs, QuantDot.BLOCK_BYTES);
                    float[] want = new float[rows * n];
                    double[] extra = new double[2];
                    double bound = (k / 32 + 3) * 0x1p-24;
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < n; j++) {
                            want[r * n + j] = llamaOrder(xq, r * xs, w, j, extra);
                            double err = Math.abs(want[r * n + j] - extra[1]);
                            assertTrue(err <= bound * extra[0] + 1e-30, format + " " + Arrays.toString(s) + " [" + r + "," + j + "]: |y - float64| "
                                    + err + " > " + bound + " x " + extra[0]);
                        }
                    }
                    for (int level = 2; level >= 0; level--) {
                        int used = QuantDot.isa(level);
                        float[] y = new float[rows * n];
                        QuantDot.matmul(x, rows, w, null, y);
                        assertArrayEquals(want, y, format + " " + Arrays.toString(s) + " kernel path " + used + ": not llama.cpp's bits");
                    }
                    QuantDot.isa(2);
                    // row independence: each row alone, on one thread, over two column ranges
                    QuantDotPanels p = w.quantDotPanels();
                    for (int r = 0; r < rows; r++) {
                        float[] y = new float[n];
                        int split = n > 16 ? 16 : 0;
                        MemorySegment seg = MemorySegment.ofArray(xq);
                        if (split > 0) QuantDot.gemm(seg, (long) r * xs, xs, QuantDot.BLOCK_BYTES, 1, p, 0, split, y, 0, n);
                        QuantDot.gemm(seg, (long) r * xs, xs, QuantDot.BLOCK_BYTES, 1, p, split, n, y, split, n);
                        assertArrayEquals(Arrays.copyOfRange(want, r * n, r * n + n), y, format + " " + Arrays.toString(s) + " row " + r + " alone");
                    }
                    // the rows quantized in place of their floats (the grouped experts' layout), in two column halves when whole blocks
                    float[] inPlace = x.clone();
                    MemorySegment f = MemorySegment.ofArray(inPlace);
                    for (int r = 0; r < rows; r++) {
                        int half = k % 64 == 0 ? k / 2 : k;
                        QuantDot.quantize(inPlace, r * k, half, f, 4L * r * k, QuantDot.IN_PLACE);
                        if (half < k) QuantDot.quantize(inPlace, r * k + half, k - half, f, 4L * (r * k + half), QuantDot.IN_PLACE);
                    }
                    float[] yp = new float[rows * n];
                    QuantDot.gemm(f, 0, 4L * k, QuantDot.IN_PLACE, rows, p, 0, n, yp, 0, n);
                    assertArrayEquals(want, yp, format + " " + Arrays.toString(s) + ": blocks in place of the floats");
                    // the rows in reverse order, on 1 and on 3 threads
                    float[] rev = new float[rows * k];
                    for (int r = 0; r < rows; r++) System.arraycopy(x, r * k, rev, (rows - 1 - r) * k, k);
                    for (int threads : new int[] {1, 3}) {
                        float[] y = new float[rows * n];
                        try (Parallel team = new Parallel(threads)) {
                            team.run(() -> QuantDot.matmul(rev, rows, w, null, y));
                        }
                        for (int r = 0; r < rows; r++) {
                            assertArrayEquals(Arrays.copyOfRange(want, r * n, r * n + n), Arrays.copyOfRange(y, (rows - 1 - r) * n, (rows - r) * n),
                                    format + " " + Arrays.toString(s) + " row " + r + " moved in the batch, " + threads + " threads");
                        }
                    }
                }
            }
        }
    }

    @Test
    void matricesTogetherSplitOverPanelsAndRowBlocksGiveEachMatrixsOwnBits() {
        Random rnd = new Random(13);
        try (Arena arena = Arena.ofShared()) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                int k = 96, rows = 3 * QuantDot.ROW_BLOCK + 5;      // 4 row blocks, the last ragged
                Matrix[] w = {reduced(format, 33, k, rnd, arena), reduced(format, 16, k, rnd, arena), reduced(format, 50, k, rnd, arena)};
                float[] x = new float[rows * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                float[][] bias = {new float[33], null, new float[50]};
                for (float[] b : bias) if (b != null) for (int j = 0; j < b.length; j++) b[j] = (float) rnd.nextGaussian();
                float[][] want = new float[w.length][];
                try (Parallel one = new Parallel(1)) {
                    for (int i = 0; i < w.length; i++) {
                        float[] y = want[i] = new float[rows * w[i].rows()];
                        int m = i;
                        one.run(() -> QuantDot.matmul(x, rows, w[m], bias[m], y));
                    }
                }
                // 3 + 1 + 4 panels x 4 row blocks over 1, 3, 5 and 7 threads: runs of whole panels and parts of panels
                for (int threads : new int[] {1, 3, 5, 7}) {
                    float[][] y = {new float[rows * 33], new float[rows * 16], new float[rows * 50]};
                    try (Parallel team = new Parallel(threads)) {
                        team.run(() -> MatMul.matmul(x, rows, w, bias, y));
                    }
                    for (int i = 0; i < w.length; i++) assertArrayEquals(want[i], y[i], format + " matrix " + i + " among three, " + threads + " threads");
                }
            }
        }
    }

    @Test
    void dotPanelsHoldGgmlsWeightsFromEitherSource() {
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofShared()) {
            for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) {
                Matrix w = reduced(format, 37, 96, rnd, arena);
                QuantDotPanels fromRows = QuantDotPanels.pack(w);
                QuantDotPanels fromPanels = QuantDotPanels.pack(Matrix.ofPanels("w", QuantPanels.pack(w), DotMode.REDUCED));
                assertEquals(fromRows.data().byteSize(), fromPanels.data().byteSize());
                assertEquals(-1L, fromRows.data().mismatch(fromPanels.data()), format + ": packed from QuantPanels differs");
                for (int j = 0; j < 37; j++) {
                    for (int c = 0; c < 96; c++) assertEquals(w.get(j, c), fromRows.get(j, c), format + " W[" + j + "," + c + "]");
                }
                assertEquals((37 + 15) / 16 * 16L * format.bytes(96), fromRows.data().byteSize(), format + ": the format's bytes, columns padded to 16");
            }
        }
    }
}
