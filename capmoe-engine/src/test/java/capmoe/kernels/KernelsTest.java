package capmoe.kernels;

import capmoe.weights.DType;
import capmoe.weights.SafeTensorsWriter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each kernel against a plain float64 version of the same formula. Tolerances are relative to
 * the magnitude of the result and cover fp32 rounding with a different summation order (1e-5).
 */
class KernelsTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    /** A weight matrix in the given dtype, and the exact float values it holds. */
    static Matrix matrix(DType dtype, int rows, int cols, float[] values, Arena arena) {
        MemorySegment seg = arena.allocate((long) rows * cols * dtype.size() + 1).asSlice(1); // unaligned on purpose
        for (int i = 0; i < rows * cols; i++) {
            switch (dtype) {
                case BF16 -> { seg.setAtIndex(I16, i, SafeTensorsWriter.toBf16(values[i])); values[i] = Bf16.round(values[i]); }
                case F16 -> { seg.setAtIndex(I16, i, Float.floatToFloat16(values[i])); values[i] = Float.float16ToFloat(Float.floatToFloat16(values[i])); }
                default -> seg.setAtIndex(F32, i, values[i]);
            }
        }
        return new Matrix("w", dtype, rows, cols, seg);
    }

    @Test
    void matmulMatchesFloat64ForEveryDtypeAndOddShapes() {
        int[][] shapes = {{1, 5, 3}, {7, 37, 16}, {4, 64, 2}, {33, 100, 9}, {5, 16, 1}, {9, 2048, 6}};
        try (Arena arena = Arena.ofShared()) {
            for (DType dtype : new DType[] {DType.BF16, DType.F32, DType.F16}) {
                for (int[] s : shapes) {
                    int rows = s[0], k = s[1], n = s[2];
                    float[] x = random(rows * k, 1), wv = random(n * k, 2), bias = random(n, 3);
                    Matrix w = matrix(dtype, n, k, wv, arena);
                    float[] y = new float[rows * n];
                    MatMul.matmul(x, rows, w, bias, y);
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < n; j++) {
                            double ref = bias[j];
                            for (int c = 0; c < k; c++) ref += (double) x[r * k + c] * wv[j * k + c];
                            assertEquals(ref, y[r * n + j], 1e-5 * Math.sqrt(k), dtype + " " + rows + "x" + k + "x" + n + " at " + r + "," + j);
                        }
                    }
                }
            }
        }
    }

    @Test
    void matmulGivesTheSameResultOnAnyPool() {
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            float[] x = random(10 * 48, 4);
            Matrix w = matrix(DType.BF16, 21, 48, random(21 * 48, 5), arena);
            float[] a = new float[10 * 21], b = new float[10 * 21];
            one.run(() -> MatMul.matmul(x, 10, w, a));
            three.run(() -> MatMul.matmul(x, 10, w, b));
            assertTrue(java.util.Arrays.equals(a, b), "a chunk's result must not depend on the thread count");
        }
    }

    /**
     * MatMul's row-independence invariant (see its Javadoc): on random shapes with ragged K (full
     * vector blocks plus a tail, or only a tail) and ragged row counts, every row computed alone
     * equals the same row inside a batch of other rows, at every offset, bit for bit; for BF16
     * (4x2 tile, 1x2 tile, single dot), F32 and F16, with and without bias, on 1 and 3 threads.
     */
    @Test
    void matmulRowIsIndependentOfTheOtherRowsAndItsPosition() {
        SplittableRandom rnd = new SplittableRandom(42);
        try (Arena arena = Arena.ofShared(); Parallel one = new Parallel(1); Parallel three = new Parallel(3)) {
            for (int trial = 0; trial < 60; trial++) {
                DType dtype = new DType[] {DType.BF16, DType.F32, DType.F16}[trial % 3];
                int k = 1 + rnd.nextInt(trial % 2 == 0 ? 300 : 40);
                int n = 1 + rnd.nextInt(13);
                int rows = 1 + rnd.nextInt(41);
                float[] x = random(rows * k, 100 + trial);
                Matrix w = matrix(dtype, n, k, random(n * k, 200 + trial), arena);
                float[] bias = trial % 4 == 1 ? random(n, 300 + trial) : null;
                Parallel pool = trial % 5 == 0 ? three : one;
                float[] batch = new float[rows * n];
                pool.run(() -> MatMul.matmul(x, rows, w, bias, batch));
                for (int r = 0; r < rows; r++) {
                    float[] alone = new float[n];
                    float[] xr = java.util.Arrays.copyOfRange(x, r * k, (r + 1) * k);
                    pool.run(() -> MatMul.matmul(xr, 1, w, bias, alone));
                    for (int j = 0; j < n; j++) {
                        assertEquals(Float.floatToRawIntBits(alone[j]), Float.floatToRawIntBits(batch[r * n + j]),
                                dtype + " rows=" + rows + " k=" + k + " n=" + n + ": row " + r + " column " + j
                                        + " alone " + alone[j] + " vs in the batch " + batch[r * n + j]);
                    }
                }
                // the same row at every offset of a batch of other rows
                int probe = rnd.nextInt(rows);
                float[] xp = java.util.Arrays.copyOfRange(x, probe * k, (probe + 1) * k);
                float[] ref = new float[n];
                pool.run(() -> MatMul.matmul(xp, 1, w, bias, ref));
                for (int at = 0; at < rows; at++) {
                    float[] moved = random(rows * k, 400 + trial * 64 + at);
                    System.arraycopy(xp, 0, moved, at * k, k);
                    float[] y = new float[rows * n];
                    pool.run(() -> MatMul.matmul(moved, rows, w, bias, y));
                    for (int j = 0; j < n; j++) {
                        assertEquals(Float.floatToRawIntBits(ref[j]), Float.floatToRawIntBits(y[at * n + j]),
                                dtype + " rows=" + rows + " k=" + k + " n=" + n + ": row moved to offset " + at + ", column " + j);
                    }
                }
            }
        }
    }

    /** RmsNorm and attention's dot/axpy are per row too: a row's result is the same alone or in a batch. */
    @Test
    void rmsNormRowIsIndependentOfTheOtherRows() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int trial = 0; trial < 20; trial++) {
            int n = 1 + rnd.nextInt(90), rows = 1 + rnd.nextInt(9);
            float[] x = random(rows * n, 500 + trial), w = random(n, 600 + trial), out = new float[rows * n];
            RmsNorm.apply(x, w, 1e-6, rows, out);
            for (int r = 0; r < rows; r++) {
                float[] alone = new float[n];
                RmsNorm.apply(java.util.Arrays.copyOfRange(x, r * n, (r + 1) * n), w, 1e-6, 1, alone);
                for (int i = 0; i < n; i++) {
                    assertEquals(Float.floatToRawIntBits(alone[i]), Float.floatToRawIntBits(out[r * n + i]),
                            "rows=" + rows + " n=" + n + ": row " + r + " element " + i);
                }
            }
        }
    }

    /** The F16 lanes: every one of the 65536 half bit patterns, in the low and the high half of a word, widens to {@link Float#float16ToFloat}'s bits (NaNs: a NaN). */
    @Test
    void f16LanesWidenEveryHalfExactly() {
        int lanes = jdk.incubator.vector.IntVector.SPECIES_PREFERRED.length();
        java.lang.foreign.MemorySegment words = java.lang.foreign.Arena.ofAuto().allocate(4L * lanes, 64);
        java.lang.foreign.ValueLayout.OfInt le = java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int base = 0; base < 65536; base += lanes) {
            // every pattern in the low half of a word, and (bit-flipped) in the high half
            for (int i = 0; i < lanes; i++) words.setAtIndex(le, i, (base + i) | (((base + i) ^ 0xFFFF) << 16));
            for (boolean high : new boolean[] {false, true}) {
                jdk.incubator.vector.FloatVector f = MatMul.f16ToF32(words, 0, high);
                for (int i = 0; i < lanes; i++) {
                    int half = high ? (base + i) ^ 0xFFFF : base + i;
                    float want = Float.float16ToFloat((short) half), got = f.lane(i);
                    if (Float.isNaN(want)) assertTrue(Float.isNaN(got), "half 0x" + Integer.toHexString(half) + " is a NaN");
                    else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "half 0x" + Integer.toHexString(half));
                }
            }
        }
    }

    /**
     * The persistent team: every task of every phase runs exactly once (thousands of phases in a
     * row, of 1..50 tasks, so workers arrive late, early and not at all), a phase started from a
     * task runs inline, a task's exception reaches the caller and the team keeps working, and
     * onEachThread runs one task on each team thread.
     */
    @Test
    void aTeamRunsEveryTaskOncePerPhaseAndSurvivesAFailure() {
        try (Parallel team = new Parallel(3)) {
            java.util.concurrent.atomic.AtomicIntegerArray hits = new java.util.concurrent.atomic.AtomicIntegerArray(50);
            int[] expected = new int[50];
            for (int phase = 0; phase < 5000; phase++) {
                int n = 1 + phase * 7 % 50;
                for (int t = 0; t < n; t++) expected[t]++;
                team.forEach(n, hits::incrementAndGet);
            }
            for (int t = 0; t < 50; t++) assertEquals(expected[t], hits.get(t), "task " + t);
            java.util.concurrent.atomic.AtomicInteger nested = new java.util.concurrent.atomic.AtomicInteger();
            team.forEach(4, t -> team.forEach(5, u -> nested.incrementAndGet()));
            assertEquals(20, nested.get(), "a phase inside a phase runs inline, every task once");
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> team.forEach(10, t -> { if (t == 7) throw new IllegalStateException("task 7"); }));
            assertEquals("task 7", e.getMessage());
            java.util.concurrent.atomic.AtomicInteger after = new java.util.concurrent.atomic.AtomicInteger();
            team.forEach(9, t -> after.incrementAndGet());
            assertEquals(9, after.get(), "the team works after a failed phase");
            java.util.Set<Thread> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
            team.onEachThread(t -> threads.add(Thread.currentThread()));
            assertEquals(3, threads.size(), "onEachThread: one task per team thread");
        }
    }

    @Test
    void parallelCoversEveryIndexOnceWithGrainAlignedChunks() {
        try (Parallel p = new Parallel(4)) {
            int[] hits = new int[103];
            p.forRange(103, 4, (s, e) -> {
                assertEquals(0, s % 4, "chunk starts are multiples of the grain");
                for (int i = s; i < e; i++) synchronized (hits) { hits[i]++; }
            });
            for (int h : hits) assertEquals(1, h);
            int[] seen = new int[1];
            p.run(() -> seen[0] = Parallel.current().threads());
            assertEquals(4, seen[0], "run() binds the pool for the kernels it calls");
        }
    }

    @Test
    void rmsNormIsXTimesRsqrtMeanSquarePlusEpsTimesWeight() {
        float[] x = random(3 * 67, 6), w = random(67, 7), out = new float[3 * 67];
        RmsNorm.apply(x, w, 1e-6, 3, out);
        for (int r = 0; r < 3; r++) {
            double ms = 0;
            for (int i = 0; i < 67; i++) ms += (double) x[r * 67 + i] * x[r * 67 + i];
            double inv = 1 / Math.sqrt(ms / 67 + 1e-6);
            for (int i = 0; i < 67; i++) assertEquals(w[i] * x[r * 67 + i] * inv, out[r * 67 + i], 1e-5);
        }
    }

    @Test
    void siluMulIsXSigmoidXTimesUp() {
        float[] g = random(45, 8), u = random(45, 9), g0 = g.clone();
        for (int i = 0; i < 45; i++) g[i] *= 20;    // exercise saturation
        for (int i = 0; i < 45; i++) g0[i] = g[i];
        Activations.siluMul(g, u, 45);
        for (int i = 0; i < 45; i++) {
            double ref = g0[i] / (1 + Math.exp(-g0[i])) * u[i];
            assertEquals(ref, g[i], 1e-5 * Math.max(1, Math.abs(ref)));
        }
    }

    @Test
    void ropeRotatesEachHalfPairByItsAngle() {
        int d = 8;
        float[] x = random(d, 10), orig = x.clone();
        float[] cos = new float[d / 2], sin = new float[d / 2];
        for (int i = 0; i < d / 2; i++) { cos[i] = (float) Math.cos(0.3 * i + 0.1); sin[i] = (float) Math.sin(0.3 * i + 0.1); }
        Rope.rotateHalf(x, 0, d, cos, sin, 0);
        for (int i = 0; i < d / 2; i++) {
            double a = 0.3 * i + 0.1;
            assertEquals(orig[i] * Math.cos(a) - orig[i + d / 2] * Math.sin(a), x[i], 1e-6);
            assertEquals(orig[i + d / 2] * Math.cos(a) + orig[i] * Math.sin(a), x[i + d / 2], 1e-6);
            // a rotation keeps the pair's length
            assertEquals(Math.hypot(orig[i], orig[i + d / 2]), Math.hypot(x[i], x[i + d / 2]), 1e-6);
        }
        float[] y = {0, 1, 2, 3, 4, 5};
        Rope.deinterleave(y, 0, 6, new float[6]);
        assertTrue(java.util.Arrays.equals(new float[] {0, 2, 4, 1, 3, 5}, y));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1.0f, Bf16.round(1.0f + 0x1p-9f), "below half an ulp rounds down");
        assertEquals(1.0f, Bf16.round(1.0f + 0x1p-8f), "a tie rounds to even (down)");
        assertEquals(1.0f + 0x1p-6f, Bf16.round(1.0f + 0x1p-7f + 0x1p-8f), "a tie rounds to even (up)");
        assertEquals(-2.5f, Bf16.round(-2.5f));
    }

    @Test
    void dotAndAxpyMatchScalarLoops() {
        float[] a = random(77, 11), b = random(80, 12), y = random(80, 13), y0 = y.clone();
        double ref = 0;
        for (int i = 0; i < 75; i++) ref += (double) a[i + 2] * b[i + 5];
        assertEquals(ref, VectorOps.dot(a, 2, b, 5, 75), 1e-5);
        VectorOps.axpy(0.5f, a, 1, y, 3, 70);
        for (int i = 0; i < 80; i++) {
            double expect = i >= 3 && i < 73 ? y0[i] + 0.5 * a[i - 2] : y0[i];
            assertEquals(expect, y[i], 1e-6, "index " + i);
        }
    }
}
