package capmoe.kernels;

import capmoe.weights.DType;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The exact F16 prefill kernel in C ({@link F16Gemm}, {@code src/main/c/f16_gemm.c}) against the
 * Java path it replaces ({@code MatMul.prefillF16}) and the scalar chain ({@link MatMul#reference}):
 * bit for bit, since the exact mode's bits must not change. A failure, not a skip, when the library
 * was not built (the message names what is missing).
 */
class F16GemmTest {

    @BeforeAll
    static void libraryIsBuilt() {
        assertTrue(NativeKernels.available(), "the native kernels did not load: " + NativeKernels.missing());
    }

    /**
     * Random ragged shapes, as the grouped experts and the dense projections call the kernel: rows
     * 6..40 (every tile height of the 12-row kernel and its rest) and 241..300 (more than one
     * 240-row block), K 1..700 (one to three of the C kernel's 256-row K blocks, up to six of Java's
     * 128), N with a partial last panel, a column window [j0, j1) at an offset of y with a wider row
     * stride, x at an offset with a wider stride. Values: weights with F16 subnormals, zeros of both
     * signs and large halves (up to 65504); x with fp32 subnormals and zeros of both signs. For
     * every element: the AVX-512 kernel (the one MatMul calls), the portable C kernel and the Java
     * path give the same bits, which are the scalar chain's; y outside the window is untouched.
     */
    @Test
    void nativeKernelsGiveTheJavaPathsBitsOnRaggedShapes() {
        SplittableRandom rnd = new SplittableRandom(16);
        try (Arena arena = Arena.ofShared()) {
            for (int trial = 0; trial < 40; trial++) {
                int rows = trial % 8 == 7 ? 241 + rnd.nextInt(60) : 6 + rnd.nextInt(35);
                int k = trial % 3 == 0 ? 1 + rnd.nextInt(40) : 200 + rnd.nextInt(500);
                int n = 1 + rnd.nextInt(5 * Panels.NR + 7);
                float[] wv = new float[n * k];
                for (int i = 0; i < wv.length; i++) wv[i] = weight(rnd);
                Matrix w = KernelsTest.matrix(DType.F16, n, k, wv, arena);
                Panels panels = w.panels();
                assertEquals(DType.F16, panels.dtype());
                int xs = k + rnd.nextInt(3), x0 = rnd.nextInt(5);
                float[] x = new float[x0 + rows * xs];
                for (int i = 0; i < x.length; i++) x[i] = activation(rnd);
                int p0 = rnd.nextInt(panels.panels()), j0 = p0 * Panels.NR, j1 = j0 + 1 + rnd.nextInt(n - j0);
                int ys = j1 - j0 + rnd.nextInt(4), y0 = rnd.nextInt(7), size = y0 + rows * ys + 3;
                float[] java = sentinel(size), avx = sentinel(size), portable = sentinel(size);
                MatMul.prefillF16(x, x0, xs, rows, panels, j0, j1, java, y0, ys);
                F16Gemm.gemm(x, x0, xs, rows, panels, j0, j1, avx, y0, ys);
                F16Gemm.gemmPortable(x, x0, xs, rows, panels, j0, j1, portable, y0, ys);
                String what = "rows=" + rows + " k=" + k + " n=" + n + " columns [" + j0 + ", " + j1 + ")";
                for (int i = 0; i < size; i++) {
                    int r = (i - y0) / ys, j = j0 + (i - y0) % ys;
                    boolean inside = i >= y0 && r < rows && j < j1;
                    int want = inside ? Float.floatToRawIntBits(MatMul.reference(x, x0 + r * xs, w, j))
                            : Float.floatToRawIntBits(SENTINEL);
                    String at = what + (inside ? " at row " + r + " column " + j : " outside the window at " + i);
                    assertEquals(want, Float.floatToRawIntBits(java[i]), "Java path, " + at);
                    assertEquals(want, Float.floatToRawIntBits(avx[i]), F16Gemm.kernel() + " kernel, " + at);
                    assertEquals(want, Float.floatToRawIntBits(portable[i]), "portable C kernel, " + at);
                }
            }
        }
    }

    /** Where the JVM's preferred vectors are AVX-512's (16 floats), MatMul's F16 prefill runs the C kernel: the dispatch cannot silently fall back. */
    @Test
    void avx512MachinesRunTheNativeKernel() {
        if (FloatVector.SPECIES_PREFERRED.length() == 16) {
            assertTrue(F16Gemm.ACTIVE, "AVX-512 machine, but F16 prefill does not run the C kernel: " + NativeKernels.missing());
            assertEquals("avx512", F16Gemm.kernel());
        } else {
            assertEquals("java", F16Gemm.kernel());
        }
    }

    /** Bad arguments: one line naming the shapes, no native call (it would read or write out of bounds). */
    @Test
    void windowsOutsideXOrYAreRefusedWithOneLine() {
        try (Arena arena = Arena.ofShared()) {
            float[] wv = KernelsTest.random(40 * 8, 3);
            Panels p = KernelsTest.matrix(DType.F16, 40, 8, wv, arena).panels();
            float[] x = new float[6 * 8], y = new float[6 * 40];
            var e = assertThrows(IllegalArgumentException.class,
                    () -> F16Gemm.gemm(x, 1, 8, 6, p, 0, 40, y, 0, 40));
            assertTrue(e.getMessage().startsWith("f16 gemm: 6 rows x columns [0, 40) of [40 x 8] do not fit x (48 floats from 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> F16Gemm.gemm(x, 0, 8, 6, p, 0, 41, y, 0, 40));
            assertTrue(e.getMessage().contains("do not fit"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> F16Gemm.gemm(x, 0, 8, 6, p, 8, 40, y, 0, 40));
            assertTrue(e.getMessage().startsWith("f16 gemm: first column 8 is not a multiple of " + Panels.NR),
                    e.getMessage());
        }
    }

    private static final float SENTINEL = Float.intBitsToFloat(0x7fc0_1234);

    private static float[] sentinel(int n) {
        float[] y = new float[n];
        Arrays.fill(y, SENTINEL);
        return y;
    }

    /** A weight that is exactly a half: mostly N(0, 1), some subnormal halves, zeros of both signs, some up to 65504. */
    private static float weight(SplittableRandom r) {
        return switch (r.nextInt(20)) {
            case 0 -> Float.float16ToFloat((short) (r.nextInt(1, 1024) | (r.nextBoolean() ? 0x8000 : 0)));   // subnormal half
            case 1 -> r.nextBoolean() ? 0f : -0f;
            case 2 -> (float) (r.nextDouble(-1, 1) * 65504);
            default -> (float) r.nextGaussian();
        };
    }

    /** An activation: mostly N(0, 1), some fp32 subnormals, zeros of both signs, some large. */
    private static float activation(SplittableRandom r) {
        return switch (r.nextInt(20)) {
            case 0 -> Float.intBitsToFloat(r.nextInt(1, 0x800000) | (r.nextBoolean() ? 0x80000000 : 0));   // subnormal
            case 1 -> r.nextBoolean() ? 0f : -0f;
            case 2 -> (float) (r.nextGaussian() * 1e4);
            default -> (float) r.nextGaussian();
        };
    }
}
