package capmoe.kernels;

import capmoe.weights.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MatMul}'s register-tiled kernel over {@link Panels}, on random shapes whose M, N and K
 * are not multiples of the tile (M: the 8/4-row tiles plus single rows, the one-row path of
 * four panels at once, more rows than one 256-row block; N: whole panels plus a partial last one;
 * K: anything, the kernel has no K tail, over one or several K blocks), for BF16, F16 and F32, on 1 and 3 threads, with and without bias, and through
 * {@link MatMul#gemm} on a column window at an offset of x and y (as the grouped experts call it).
 * <ol>
 *   <li>Bits: every element equals {@link MatMul#reference}, the scalar form of the kernel's
 *       fused multiply-add chain, exactly. This is what makes a row's result independent of the
 *       batch, the tile path and the machine's vector width.</li>
 *   <li>Accuracy: every element is within {@code 4 * K * 2^-24 * sum_k |x_k w_k|} of the float64
 *       dot product of the same (stored) values: the standard bound for a sequential fp32
 *       accumulation of K terms (each fused step rounds once, relative error at most 2^-24,
 *       errors add up at most linearly in K), with a factor 4 of margin. A kernel that skipped or
 *       doubled a term, or mixed up columns, misses it by orders of magnitude.</li>
 * </ol>
 */
class GemmTest {

    @Test
    void everyPathGivesTheScalarChainsBitsAndStaysWithinTheFloat64Bound() {
        SplittableRandom rnd = new SplittableRandom(2024);
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            for (int trial = 0; trial < 93; trial++) {
                DType dtype = new DType[] {DType.BF16, DType.F16, DType.F32}[trial % 3];
                boolean big = trial >= 90;                  // more rows than one row block, several K blocks
                int rows = big ? 300 + rnd.nextInt(9) : trial % 5 == 0 ? 1 + rnd.nextInt(3) : 1 + rnd.nextInt(37);
                int k = big ? (trial == 90 ? 512 : 530) : 1 + rnd.nextInt(trial % 2 == 0 ? 600 : 40);  // 512: x copied at a padded stride
                int n = big ? 2 * Panels.NR + 5 : 1 + rnd.nextInt(5 * Panels.NR + 7);
                float[] x = KernelsTest.random(rows * k, 10 + trial);
                float[] wv = KernelsTest.random(n * k, 20 + trial);
                Matrix w = KernelsTest.matrix(dtype, n, k, wv, arena);
                float[] bias = trial % 4 == 1 ? KernelsTest.random(n, 30 + trial) : null;
                float[] y = new float[rows * n];
                (trial % 2 == 0 ? three : one).run(() -> MatMul.matmul(x, rows, w, bias, y));
                String what = dtype + " rows=" + rows + " k=" + k + " n=" + n;
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < n; j++) {
                        float want = MatMul.reference(x, r * k, w, j);
                        if (bias != null) want += bias[j];
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(y[r * n + j]),
                                what + " at " + r + "," + j + ": " + want + " vs " + y[r * n + j]);
                        double exact = bias == null ? 0 : bias[j], magnitude = bias == null ? 0 : Math.abs(bias[j]);
                        for (int c = 0; c < k; c++) {
                            double t = (double) x[r * k + c] * wv[j * k + c];
                            exact += t;
                            magnitude += Math.abs(t);
                        }
                        double bound = 4 * (k + 1) * 0x1p-24 * magnitude;
                        assertTrue(Math.abs(exact - y[r * n + j]) <= bound,
                                what + " at " + r + "," + j + ": " + y[r * n + j] + " vs float64 " + exact + ", bound " + bound);
                    }
                }
                // a column window of whole panels (plus the ragged end) at offsets of x and y
                int p0 = rnd.nextInt(w.panels().panels()), j0 = p0 * Panels.NR;
                int j1 = j0 + 1 + rnd.nextInt(n - j0);
                int xo = rnd.nextInt(5), yo = rnd.nextInt(5), ys = (j1 - j0) + rnd.nextInt(3);
                float[] window = new float[yo + rows * ys], shifted = new float[xo + rows * k];
                System.arraycopy(x, 0, shifted, xo, rows * k);
                MatMul.gemm(shifted, xo, k, rows, w.panels(), j0, j1, window, yo, ys);
                for (int r = 0; r < rows; r++) {
                    for (int j = j0; j < j1; j++) {
                        float want = MatMul.reference(x, r * k, w, j);
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(window[yo + r * ys + j - j0]),
                                what + " window [" + j0 + ", " + j1 + ") at " + r + "," + j);
                    }
                }
            }
        }
    }

    /**
     * {@link MatMul#blockF32}, the entry the F16 path and quantized panels run their decoded fp32
     * blocks through, on its own: random row counts (every tile height and ragged ends), K walked
     * in K blocks of random sizes (the first starts the chains, later ones continue them from y),
     * partial widths (a matrix's last panel) and offsets/strides of x, y and the block. Each
     * output equals the scalar chain {@code c = fma(x, B, c)} over all of K, bit for bit, and is
     * within the float64 bound of {@link #everyPathGivesTheScalarChainsBitsAndStaysWithinTheFloat64Bound};
     * y's columns at and past the width, and y around the rows, keep their sentinel.
     */
    @Test
    void f32BlockEntryContinuesTheChainsOverKBlocksAndTouchesOnlyItsColumns() {
        SplittableRandom rnd = new SplittableRandom(77);
        int nr = Panels.NR;
        for (int trial = 0; trial < 60; trial++) {
            int rows = 1 + rnd.nextInt(trial < 30 ? 40 : 300), k = 1 + rnd.nextInt(400), width = trial % 3 == 0 ? 1 + rnd.nextInt(nr) : nr;
            int xo = rnd.nextInt(7), xs = k + rnd.nextInt(20), yo = rnd.nextInt(7), ys = nr + rnd.nextInt(9);
            long bo = 4L * rnd.nextInt(5);
            float[] x = new float[xo + rows * xs];
            float[] xv = KernelsTest.random(rows * k, 100 + trial);
            for (int r = 0; r < rows; r++) System.arraycopy(xv, r * k, x, xo + r * xs, k);
            float[] b = KernelsTest.random(k * nr, 200 + trial);       // B[i, j] = b[i * nr + j]
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment block = arena.allocate(bo + 4L * k * nr, 64);
                MemorySegment.copy(b, 0, block, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), bo, b.length);
                float[] y = new float[yo + rows * ys + 5];
                java.util.Arrays.fill(y, -7.25f);
                for (int c0 = 0; c0 < k; ) {
                    int kn = Math.min(k - c0, 1 + rnd.nextInt(200));
                    MatMul.blockF32(x, xo + c0, xs, rows, kn, block, bo + 4L * nr * c0, c0 > 0, y, yo, ys, width);
                    c0 += kn;
                }
                String what = "rows=" + rows + " k=" + k + " width=" + width;
                for (int i = 0; i < y.length; i++) {
                    int r = (i - yo) / ys, j = (i - yo) % ys;
                    if (i < yo || r >= rows || j >= width) {
                        assertEquals(-7.25f, y[i], what + ": y[" + i + "] outside the block's outputs was written");
                        continue;
                    }
                    float want = 0;
                    double exact = 0, magnitude = 0;
                    for (int c = 0; c < k; c++) {
                        want = Math.fma(xv[r * k + c], b[c * nr + j], want);
                        double t = (double) xv[r * k + c] * b[c * nr + j];
                        exact += t;
                        magnitude += Math.abs(t);
                    }
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(y[i]), what + " at " + r + "," + j + ": " + want + " vs " + y[i]);
                    assertTrue(Math.abs(exact - y[i]) <= 4 * (k + 1) * 0x1p-24 * magnitude, what + " at " + r + "," + j + ": float64 " + exact);
                }
            }
        }
    }

    /**
     * The F16 paths on every finite half: a matrix [256 x 248] holding each of the 63,488 finite
     * halves once (both zeros, all subnormals, ±65504), one row (the decode kernels: four panels
     * at once on x scaled by 2^112, single panels through a window of three panels, and a row
     * holding 7e4, which cannot be scaled) and 13 rows (the widened K blocks under the 12-row and
     * 1-row tiles) of random x, each output equal to
     * {@link MatMul#reference} bit for bit. Then a matrix holding +inf, -inf and a NaN: packed as
     * F32 panels (the F16 kernels' widening is exact for finite halves only), and still the
     * reference's values (a NaN where the reference has one, the same bits elsewhere).
     */
    @Test
    void f16PathsWidenEveryFiniteHalfExactlyAndPackNonFiniteMatricesAsF32() {
        int n = 256, k = 248, nr = Panels.NR;
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1)) {     // shared: Panels.pack reads it on all cores
            MemorySegment seg = arena.allocate(2L * n * k, 64);
            int i = 0;
            for (int h = 0; h < 1 << 16; h++) if ((h & 0x7C00) != 0x7C00) seg.setAtIndex(ValueLayout.JAVA_SHORT, i++, (short) h);
            assertEquals(n * k, i);
            Matrix w = new Matrix("every finite half", DType.F16, n, k, seg);
            assertEquals(DType.F16, w.panels().dtype());
            for (int variant = 0; variant < 3; variant++) {
                int rows = variant == 1 ? 13 : 1;
                float[] x = KernelsTest.random(rows * k, variant);
                if (variant == 2) x[3] = 7e4f;     // |x| >= 2^16: decode cannot scale x by 2^112 (MatMul.scalable)
                float[] y = new float[rows * n];
                one.run(() -> MatMul.matmul(x, rows, w, y));
                float[] window = new float[rows * 3 * nr];
                MatMul.gemm(x, 0, k, rows, w.panels(), 2 * nr, 5 * nr, window, 0, 3 * nr);
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < n; j++) {
                        int want = Float.floatToRawIntBits(MatMul.reference(x, r * k, w, j));
                        assertEquals(want, Float.floatToRawIntBits(y[r * n + j]), "rows=" + rows + " at " + r + "," + j);
                        if (j >= 2 * nr && j < 5 * nr) {
                            assertEquals(want, Float.floatToRawIntBits(window[r * 3 * nr + j - 2 * nr]), "window, rows=" + rows + " at " + r + "," + j);
                        }
                    }
                }
            }
            int rows = 7, m = 2 * nr + 3, kk = 40;
            float[] v = KernelsTest.random(m * kk, 5);
            Matrix special = KernelsTest.matrix(DType.F16, m, kk, v, arena);
            MemorySegment data = special.data();
            data.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * (3 * kk + 1), (short) 0x7C00);       // +inf
            data.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * (nr * kk + 7), (short) 0xFC00);      // -inf
            data.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * ((m - 1) * kk + 39), (short) 0x7E01); // NaN
            assertEquals(DType.F32, special.panels().dtype());
            float[] x = KernelsTest.random(rows * kk, 6);
            for (int r0 : new int[] {0, rows - 1}) {                 // 7 rows (tiles), then the last row alone (decode)
                int count = rows - r0;
                float[] xr = java.util.Arrays.copyOfRange(x, r0 * kk, rows * kk), y = new float[count * m];
                one.run(() -> MatMul.matmul(xr, count, special, y));
                for (int r = 0; r < count; r++) {
                    for (int j = 0; j < m; j++) {
                        float want = MatMul.reference(xr, r * kk, special, j), got = y[r * m + j];
                        if (Float.isNaN(want)) assertTrue(Float.isNaN(got), "non-finite F16 at " + (r0 + r) + "," + j + ": " + got);
                        else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "non-finite F16 at " + (r0 + r) + "," + j);
                    }
                }
            }
        }
    }
}
