package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The SIMD softmax / sigmoid against the plain loops (the fallback without jdk.incubator.vector),
 * on row lengths that exercise the vector tails. Tolerance 1e-6 relative: both are float32, the
 * vector exp (VectorMath) is within 2 ulp and the softmax sum is added in a different order.
 */
class GatingVectorMathTest {

    @Test
    void theVectorModuleIsUsedUnderTest() {
        assertTrue(GatingMath.VECTOR, "tests run with --add-modules jdk.incubator.vector (parent pom argLine)");
    }

    @Test
    void softmaxRowsMatchThePlainLoops() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int n : new int[] {1, 3, 7, 8, 16, 17, 32, 60, 64, 128, 160, 257}) {
            float[] x = new float[3 * n], a = new float[3 * n], b = new float[3 * n];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rng.nextGaussian() * 4);
            for (int row = 0; row < 3 * n; row += n) {
                GatingVectorMath.softmaxRow(x, a, row, n, new float[64]);
                GatingMath.softmaxRowScalar(x, b, row, n);
            }
            for (int i = 0; i < x.length; i++) assertEquals(b[i], a[i], 1e-6 * Math.max(1e-3, b[i]), "n=" + n + " i=" + i);
        }
    }

    /** Both paths subtract the row max first: logits around 1000 neither overflow nor lose the small ones' share. */
    @Test
    void softmaxSumsToOneAndIsShiftInvariant() {
        float[] x = {1000f, 1001f, 999f, -5f};
        double z = Math.exp(0) + Math.exp(1) + Math.exp(-1) + Math.exp(-1005);
        float[] a = new float[4], b = new float[4];
        GatingVectorMath.softmaxRow(x, a, 0, 4, new float[64]);
        GatingMath.softmaxRowScalar(x, b, 0, 4);
        for (float[] p : new float[][] {a, b}) {
            assertEquals(Math.exp(1) / z, p[1], 1e-6);
            assertEquals(Math.exp(0) / z, p[0], 1e-6);
            assertEquals(0, p[3], 1e-12);
        }
    }

    @Test
    void sigmoidMatchesThePlainLoop() {
        SplittableRandom rng = new SplittableRandom(6);
        for (int n : new int[] {1, 5, 8, 31, 64, 100}) {
            float[] x = new float[n], a = new float[n], b = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) (rng.nextGaussian() * 6);
            GatingVectorMath.sigmoid(x, a, n);
            GatingMath.sigmoidScalar(x, b, n);
            for (int i = 0; i < n; i++) assertEquals(b[i], a[i], 1e-6 * Math.max(1e-3, b[i]), "n=" + n + " i=" + i);
        }
    }

    /** The SIMD top-k against the scalar insertion, on random rows and on rows full of ties. */
    @Test
    void topKMatchesTheScalarSelectionTiesIncluded() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int trial = 0; trial < 2000; trial++) {
            int n = 16 + rng.nextInt(150), k = 1 + rng.nextInt(Math.min(16, n));
            float[] v = new float[n + 5];
            boolean ties = trial % 2 == 0;
            for (int i = 0; i < v.length; i++) v[i] = ties ? rng.nextInt(6) / 8f : (float) rng.nextDouble();
            int[] a = new int[k], b = new int[k];
            assertTrue(GatingVectorMath.topK(v, 5, n, k, a, 0, new float[n + 64]));
            GatingMath.topK(v, 5, n, k, b, 0, new float[k]);
            assertArrayEquals(b, a, "n=" + n + " k=" + k + (ties ? " with ties" : ""));
        }
    }

    @Test
    void topKLeavesRowsOfMinusInfinityToTheScalarPath() {
        float[] v = new float[16];
        java.util.Arrays.fill(v, Float.NEGATIVE_INFINITY);
        assertFalse(GatingVectorMath.topK(v, 0, 16, 2, new int[2], 0, new float[80]));
    }
}
