package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.SafeTensorsWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The native kernels of {@code --dot reduced} ({@link ReducedMatMul}, {@code src/main/c/bf16_dot.c}):
 * the library loads (a failure, not a skip, when it was not built: the message names what is
 * missing), the activation rounding is ggml's bit for bit, the panels hold the matrix where the
 * layout says, both kernels (AVX512_BF16 and portable) give the bits of a scalar Java model of
 * llama.cpp's two orders ({@link #tinyBlas}, {@link #vecDot}: tinyBLAS's and ggml_vec_dot_bf16's,
 * written from their source) on random ragged shapes, agree with a float64 sum of the bf16-rounded
 * inputs within fp32 accumulation error, and a row's bits depend on the batch only as llama.cpp's
 * choice of order does (one row or more, for a dense matrix; never, for an expert's).
 * {@code scripts/bf16-vs-ggml} checks the same kernels against llama.cpp's compiled ggml_mul_mat and
 * ggml_mul_mat_id.
 *
 * <p>Tolerance of a dot product of K terms: the bf16 x bf16 products are exact in fp32, and in
 * either order each term passes through at most K additions (a lane's chain, R16's four levels,
 * the double steps), each rounding by at most 2^-24 of a partial sum no larger than S = Σ|x_k·w_k|,
 * so |result - float64| ≤ K·2^-24·S (+ 2^-24·S for the final rounding); checked with (K + 1)·2^-24·S.
 */
class ReducedMatMulTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @BeforeAll
    static void libraryIsBuilt() {
        assertTrue(NativeKernels.available(), "the native kernels did not load: " + NativeKernels.missing());
    }

    /** ggml's GGML_FP32_TO_BF16 (ggml/src/ggml-impl.h lines 611-624), written again in Java. */
    static short ggmlBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 64);
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    @Test
    void roundingIsGgmlsBitForBit() {
        SplittableRandom r = new SplittableRandom(7);
        float[] x = new float[4099];   // 256 vectors and a tail
        int[] special = {0x7fc00000, 0xffc00001, 0x7f800001, 0xff812345, 0x7f800000, 0xff800000, 0, 0x80000000,
                0x00000001, 0x807fffff, 0x00008000, 0x00018000, 0x3f808000, 0x3f818000, 0x3f807fff, 0x7f7fffff, 0xff7fffff, 0x7f7f8000};
        for (int i = 0; i < x.length; i++) {
            x[i] = i < special.length ? Float.intBitsToFloat(special[i])
                    : i % 3 == 0 ? Float.intBitsToFloat(r.nextInt()) : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-30, 30)));
        }
        short[] got = ReducedMatMul.round(x);
        for (int i = 0; i < x.length; i++) {
            assertEquals(ggmlBf16(x[i]), got[i], "value " + i + " bits 0x" + Integer.toHexString(Float.floatToRawIntBits(x[i])));
        }
        // tails shorter than a vector
        for (int n = 0; n < 40; n++) {
            short[] part = ReducedMatMul.round(Arrays.copyOf(x, n));
            for (int i = 0; i < n; i++) assertEquals(ggmlBf16(x[i]), part[i], "length " + n + " value " + i);
        }
    }

    /** A BF16 matrix [n x k] in reduced mode with random values; {@code values} gets the bf16 values. */
    static Matrix bf16(String name, int n, int k, float[] values, long seed, Arena arena) {
        SplittableRandom r = new SplittableRandom(seed);
        MemorySegment seg = arena.allocate((long) n * k * 2, 2);
        for (int i = 0; i < n * k; i++) {
            short b = SafeTensorsWriter.toBf16((float) r.nextGaussian());
            seg.setAtIndex(I16, i, b);
            values[i] = Bf16.toFloat(b);
        }
        return new Matrix(name, DType.BF16, n, k, seg, DotMode.REDUCED);
    }

    static float[] gaussian(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * 3);
        return a;
    }

    /** R16's leaves in the order the kernel takes them (bf16_dot.c's LANE): bit-reversed. */
    private static final int[] LANE = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};

    /** Element of pair t's word of column j in the panel array (bf16_dot.c's layout: runs of lanes in LANE order, then blocks). */
    static long panelIndex(int j, int t, int k) {
        int kp = (k + 63) & ~63, nb = kp / 64, u = t & 31;
        long pos = (long) ((u & 16) | LANE[u & 15]) * nb + (t >> 5);
        return (long) (j / 16) * 16 * kp + pos * 32 + 2 * (j % 16);
    }

    @Test
    void packedPanelsHoldTheMatrixWhereTheLayoutSays() {
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : new int[][] {{1, 1}, {17, 5}, {16, 64}, {33, 129}, {5, 96}, {20, 200}}) {
                int n = s[0], k = s[1], kp = (k + 63) & ~63;
                float[] v = new float[n * k];
                PairPanels p = bf16("w", n, k, v, 1, arena).pairPanels();
                assertEquals((long) p.panels() * 16 * kp * 2, p.data().byteSize());
                assertEquals(16L * kp, p.panelElements());
                boolean[] seen = new boolean[(int) (p.data().byteSize() / 2)];
                for (int j = 0; j < p.panels() * PairPanels.NR; j++) {
                    for (int c = 0; c < kp; c++) {
                        int at = (int) (panelIndex(j, c / 2, k) + (c & 1));
                        assertTrue(!seen[at], "two values at element " + at);
                        seen[at] = true;
                        float want = j < n && c < k ? v[j * k + c] : 0f;
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(Bf16.toFloat(p.data().getAtIndex(I16, at))), n + "x" + k + " at " + j + "," + c);
                    }
                }
            }
        }
    }

    /** vdpbf16ps on one lane (Intel SDM, VDPBF16PS): c += x[1]*w[1], then c += x[0]*w[0], the products exact in fp32. */
    private static float dp(float c, float x0, float x1, float w0, float w1) {
        c = c + x1 * w1;
        return c + x0 * w0;
    }

    /** GCC 12's _mm512_reduce_add_ps (avx512fintrin.h, __MM512_REDUCE_OP). */
    static float r16(float[] a) {
        float[] t = new float[8], u = new float[4];
        for (int i = 0; i < 8; i++) t[i] = a[i + 8] + a[i];
        for (int i = 0; i < 4; i++) u[i] = t[i + 4] + t[i];
        return (u[0] + u[2]) + (u[1] + u[3]);
    }

    /** tinyBLAS's BF16 sum (llamafile/sgemm.cpp gemm_bloc, KN = 32): one zmm over blocks of 32, lane i on k = 32b+2i, 32b+2i+1, then hsum. */
    static float tinyBlas(float[] x, int xo, float[] w, int wo, int k) {
        float[] lane = new float[16];
        for (int b = 0; b < k / 32; b++) {
            for (int i = 0; i < 16; i++) {
                int c = xo + 32 * b + 2 * i, d = wo + 32 * b + 2 * i;
                lane[i] = dp(lane[i], x[c], x[c + 1], w[d], w[d + 1]);
            }
        }
        return r16(lane);
    }

    /** ggml_vec_dot_bf16 (ggml-cpu/vec.cpp lines 139-163, 256-261): c1, c2 over blocks of 64, their hsums and the tail in double. */
    static float vecDot(float[] x, int xo, float[] w, int wo, int k) {
        float[] c1 = new float[16], c2 = new float[16];
        int full = k / 64;
        for (int b = 0; b < full; b++) {
            for (int i = 0; i < 16; i++) {
                int c = 64 * b + 2 * i;
                c1[i] = dp(c1[i], x[xo + c], x[xo + c + 1], w[wo + c], w[wo + c + 1]);
                c2[i] = dp(c2[i], x[xo + c + 32], x[xo + c + 33], w[wo + c + 32], w[wo + c + 33]);
            }
        }
        double s = 0;
        s += r16(c1);
        s += r16(c2);
        for (int c = 64 * full; c < k; c++) s += x[xo + c] * w[wo + c];   // the float product, then widened
        return (float) s;
    }

    /** x rounded to bf16 as the kernels round it, as floats. */
    static float[] rounded(float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = Bf16.toFloat(ggmlBf16(x[i]));
        return r;
    }

    /** Random shapes with ragged edges: K past and short of multiples of 32 and 64 (TINYBLAS: a multiple of 32), rows past multiples of the 6-row tile, columns of 16-column panels. */
    private static int[] shape(SplittableRandom rnd, int trial, ReducedMatMul.Order order) {
        int k = trial < 2 ? 4097 + 2000 * trial : trial % 7 == 3 ? 96 : 1 + rnd.nextInt(trial % 3 == 0 ? 700 : 140);
        if (order == ReducedMatMul.Order.TINYBLAS) k = 32 * ((k + 31) / 32);
        return new int[] {k, 1 + rnd.nextInt(90), 1 + rnd.nextInt(40)};
    }

    /** Both kernels: the model's bits, and within (K + 1)·2^-24·Σ|x·w| of float64 (the class comment) on inputs without subnormals. */
    @Test
    void bothKernelsGiveTheModelsBitsOfLlamaCppsOrdersAndFloat64WithinTolerance() {
        for (ReducedMatMul.Order order : ReducedMatMul.Order.values()) {
            SplittableRandom rnd = new SplittableRandom(order.ordinal() + 5);
            try (Arena arena = Arena.ofShared()) {
                for (int trial = 0; trial < 60; trial++) {
                    int[] s = shape(rnd, trial, order);
                    int k = s[0], n = s[1], rows = s[2];
                    float[] wv = new float[n * k];
                    Matrix w = bf16("w", n, k, wv, 100 + trial, arena);
                    float[] x = gaussian(rows * k, 200 + trial);
                    if (trial % 5 == 2) for (int i = 0; i < x.length; i += 7) x[i] *= 1e-39f;   // subnormal activations
                    float[] xr = rounded(x);
                    float[] fast = new float[rows * n], portable = new float[rows * n];
                    ReducedMatMul.gemm(order, x, 0, k, rows, w.pairPanels(), 0, n, fast, 0, n);
                    ReducedMatMul.gemmPortable(order, x, 0, k, rows, w.pairPanels(), 0, n, portable, 0, n);
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < n; j++) {
                            float want = order == ReducedMatMul.Order.TINYBLAS ? tinyBlas(xr, r * k, wv, j * k, k) : vecDot(xr, r * k, wv, j * k, k);
                            String at = order + " rows=" + rows + " k=" + k + " n=" + n + " at " + r + "," + j;
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(fast[r * n + j]), ReducedMatMul.kernel() + " " + at);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(portable[r * n + j]), "portable " + at);
                            if (trial % 5 == 2) continue;
                            double ref = 0, sum = 0;
                            for (int c = 0; c < k; c++) {
                                double t = (double) xr[r * k + c] * wv[j * k + c];
                                ref += t;
                                sum += Math.abs(t);
                            }
                            assertEquals(ref, fast[r * n + j], (k + 1) * 0x1p-24 * sum, "float64 " + at);
                        }
                    }
                }
            }
        }
    }

    /** The two models are two different orders (so the test above could tell them apart). */
    @Test
    void theTwoOrdersDiffer() {
        float[] x = rounded(gaussian(192 * 50, 3)), w = rounded(gaussian(192, 4));
        int differ = 0;
        for (int r = 0; r < 50; r++) if (tinyBlas(x, r * 192, w, 0, 192) != vecDot(x, r * 192, w, 0, 192)) differ++;
        assertTrue(differ > 5, "tinyBLAS's and ggml_vec_dot_bf16's sums differed in only " + differ + " of 50");
    }

    /**
     * MatMul's invariant in this mode: a row's bits are a function of that row of x, W and the order
     * alone, never of the other rows, the column range or the threads: through {@link MatMul#matmul}
     * (a dense matrix: tinyBLAS's order from two rows when K and N allow, else ggml_vec_dot_bf16's,
     * as llama.cpp picks) and {@link MatMul#matmulExpert} (always ggml_vec_dot_bf16's), every row
     * equals the model of its order, whatever the batch, its position in it and the team.
     */
    @Test
    void aRowsBitsDependOnlyOnItsRowAndTheOrderNotOnTheBatchTheColumnRangeOrTheThreads() {
        SplittableRandom rnd = new SplittableRandom(42);
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            for (int trial = 0; trial < 40; trial++) {
                int k = trial == 1 ? 5001 : trial % 4 == 0 ? 32 * (1 + rnd.nextInt(20)) : 1 + rnd.nextInt(trial % 2 == 0 ? 600 : 40);
                int n = trial % 3 == 0 ? 4 * (1 + rnd.nextInt(25)) : 1 + rnd.nextInt(100), rows = 1 + rnd.nextInt(41);
                float[] wv = new float[n * k];
                Matrix w = bf16("w", n, k, wv, 300 + trial, arena);
                float[] x = gaussian(rows * k, 400 + trial), xr = rounded(x);
                float[] bias = trial % 4 == 1 ? gaussian(n, 500 + trial) : null;
                Parallel pool = trial % 3 == 0 ? three : one;
                float[] batch = new float[rows * n], expert = new float[rows * n];
                pool.run(() -> MatMul.matmul(x, rows, w, bias, batch));
                pool.run(() -> MatMul.matmulExpert(x, rows, w, expert));
                ReducedMatMul.Order order = ReducedMatMul.matMulOrder(rows, n, k);
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < n; j++) {
                        float dense = order == ReducedMatMul.Order.TINYBLAS ? tinyBlas(xr, r * k, wv, j * k, k) : vecDot(xr, r * k, wv, j * k, k);
                        if (bias != null) dense += bias[j];
                        String at = "rows=" + rows + " k=" + k + " n=" + n + " (" + order + "): row " + r + " column " + j;
                        assertEquals(Float.floatToRawIntBits(dense), Float.floatToRawIntBits(batch[r * n + j]), "matmul " + at);
                        assertEquals(Float.floatToRawIntBits(vecDot(xr, r * k, wv, j * k, k)), Float.floatToRawIntBits(expert[r * n + j]), "matmulExpert " + at);
                    }
                }
                // one row alone: ggml_vec_dot_bf16's order for a dense matrix too (llama.cpp's decode)
                int r1 = rnd.nextInt(rows);
                float[] alone = new float[n];
                (trial % 2 == 0 ? one : three).run(() -> MatMul.matmul(Arrays.copyOfRange(x, r1 * k, (r1 + 1) * k), 1, w, null, alone));
                for (int j = 0; j < n; j++) {
                    assertEquals(Float.floatToRawIntBits(vecDot(xr, r1 * k, wv, j * k, k)), Float.floatToRawIntBits(alone[j]), "one row, column " + j);
                }
                // a column range at a panel boundary, x and y at offsets and strides
                int j0 = PairPanels.NR * rnd.nextInt(w.pairPanels().panels()), j1 = j0 + 1 + rnd.nextInt(n - j0);
                int xs = k + rnd.nextInt(5), xo = rnd.nextInt(7), ys = j1 - j0 + rnd.nextInt(5), yo = rnd.nextInt(7);
                float[] shifted = gaussian(xo + rows * xs, 1);
                for (int r = 0; r < rows; r++) System.arraycopy(x, r * k, shifted, xo + r * xs, k);
                float[] window = new float[yo + rows * ys];
                ReducedMatMul.gemm(ReducedMatMul.Order.VEC_DOT, shifted, xo, xs, rows, w.pairPanels(), j0, j1, window, yo, ys);
                for (int r = 0; r < rows; r++) {
                    for (int j = j0; j < j1; j++) {
                        assertEquals(Float.floatToRawIntBits(expert[r * n + j]), Float.floatToRawIntBits(window[yo + r * ys + j - j0]),
                                "columns [" + j0 + ", " + j1 + ") row " + r + " column " + j);
                    }
                }
            }
        }
    }
}
