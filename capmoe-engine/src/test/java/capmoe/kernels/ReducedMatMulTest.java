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
 * missing), the activation rounding is ggml's bit for bit, both kernels (AVX512_BF16 and portable)
 * agree with a float64 sum of the bf16-rounded inputs within fp32 accumulation error and with each
 * other bit for bit, and a row's bits never depend on the batch.
 *
 * <p>Tolerance of a dot product of K terms: the bf16 x bf16 products are exact in fp32 and the K
 * additions of the chain each round by at most 2^-24 of a partial sum no larger than
 * S = Σ|x_k·w_k|, so |fp32 - float64| ≤ K·2^-24·S; checked with (K + 1)·2^-24·S.
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

    @Test
    void packedPanelsHoldTheMatrixInPairs() {
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : new int[][] {{1, 1}, {17, 5}, {16, 64}, {33, 129}}) {
                int n = s[0], k = s[1];
                float[] v = new float[n * k];
                PairPanels p = bf16("w", n, k, v, 1, arena).pairPanels();
                int kp = p.kp();
                assertEquals((long) p.panels() * kp * PairPanels.NR * 2, p.data().byteSize());
                for (int j = 0; j < p.panels() * PairPanels.NR; j++) {
                    for (int c = 0; c < kp; c++) {
                        short h = p.data().getAtIndex(I16, (long) (j / 16) * kp * 16 + (c / 2) * 32 + 2 * (j % 16) + (c & 1));
                        float want = j < n && c < k ? v[j * k + c] : 0f;
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(Bf16.toFloat(h)), n + "x" + k + " at " + j + "," + c);
                    }
                }
            }
        }
    }

    @Test
    void bothKernelsMatchFloat64OfTheRoundedInputsOnRaggedShapes() {
        SplittableRandom rnd = new SplittableRandom(11);
        try (Arena arena = Arena.ofShared()) {
            for (int trial = 0; trial < 80; trial++) {
                // trials 0 and 1: K past the kernel's K block (1024 pairs), so chains continue across blocks
                int k = trial < 2 ? 4097 + 2000 * trial : 1 + rnd.nextInt(trial % 3 == 0 ? 700 : 70), n = 1 + rnd.nextInt(90), rows = 1 + rnd.nextInt(40);
                float[] wv = new float[n * k];
                Matrix w = bf16("w", n, k, wv, 100 + trial, arena);
                float[] x = gaussian(rows * k, 200 + trial);
                float[] fast = new float[rows * n], portable = new float[rows * n];
                ReducedMatMul.gemm(x, 0, k, rows, w.pairPanels(), 0, n, fast, 0, n);
                ReducedMatMul.gemmPortable(x, 0, k, rows, w.pairPanels(), 0, n, portable, 0, n);
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < n; j++) {
                        double ref = 0, s = 0;
                        for (int c = 0; c < k; c++) {
                            double p = (double) Bf16.toFloat(ggmlBf16(x[r * k + c])) * wv[j * k + c];
                            ref += p;
                            s += Math.abs(p);
                        }
                        double tol = (k + 1) * 0x1p-24 * s;
                        String at = "rows=" + rows + " k=" + k + " n=" + n + " at " + r + "," + j;
                        assertEquals(ref, fast[r * n + j], tol, ReducedMatMul.kernel() + " " + at);
                        assertEquals(ref, portable[r * n + j], tol, "portable " + at);
                        // the same chain in both (no subnormals in these inputs)
                        assertEquals(Float.floatToRawIntBits(portable[r * n + j]), Float.floatToRawIntBits(fast[r * n + j]),
                                ReducedMatMul.kernel() + " vs portable " + at);
                    }
                }
            }
        }
    }

    @Test
    void aRowsBitsDoNotDependOnTheBatchTheColumnRangeOrTheThreads() {
        SplittableRandom rnd = new SplittableRandom(42);
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            for (int trial = 0; trial < 40; trial++) {
                int k = trial == 1 ? 5001 : 1 + rnd.nextInt(trial % 2 == 0 ? 600 : 40), n = 1 + rnd.nextInt(100), rows = 1 + rnd.nextInt(41);
                Matrix w = bf16("w", n, k, new float[n * k], 300 + trial, arena);
                float[] x = gaussian(rows * k, 400 + trial);
                float[] bias = trial % 4 == 1 ? gaussian(n, 500 + trial) : null;
                Parallel pool = trial % 3 == 0 ? three : one;
                float[] batch = new float[rows * n];
                pool.run(() -> MatMul.matmul(x, rows, w, bias, batch));
                for (int r = 0; r < rows; r++) {
                    float[] alone = new float[n];
                    float[] xr = Arrays.copyOfRange(x, r * k, (r + 1) * k);
                    (trial % 2 == 0 ? one : three).run(() -> MatMul.matmul(xr, 1, w, bias, alone));
                    for (int j = 0; j < n; j++) {
                        assertEquals(Float.floatToRawIntBits(alone[j]), Float.floatToRawIntBits(batch[r * n + j]),
                                "rows=" + rows + " k=" + k + " n=" + n + ": row " + r + " column " + j);
                    }
                }
                // a column range at a panel boundary, x and y at offsets and strides
                int j0 = PairPanels.NR * rnd.nextInt(w.pairPanels().panels()), j1 = j0 + 1 + rnd.nextInt(n - j0);
                int xs = k + rnd.nextInt(5), xo = rnd.nextInt(7), ys = j1 - j0 + rnd.nextInt(5), yo = rnd.nextInt(7);
                float[] shifted = gaussian(xo + rows * xs, 1);
                for (int r = 0; r < rows; r++) System.arraycopy(x, r * k, shifted, xo + r * xs, k);
                float[] window = new float[yo + rows * ys];
                ReducedMatMul.gemm(shifted, xo, xs, rows, w.pairPanels(), j0, j1, window, yo, ys);
                for (int r = 0; r < rows; r++) {
                    for (int j = j0; j < j1; j++) {
                        float want = batch[r * n + j] - (bias == null ? 0 : bias[j]);
                        if (bias == null) {
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(window[yo + r * ys + j - j0]),
                                    "columns [" + j0 + ", " + j1 + ") row " + r + " column " + j);
                        }
                    }
                }
            }
        }
    }
}
