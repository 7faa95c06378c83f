package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The SIMD softmax / sigmoid against the plain loops (the fallback without jdk.incubator.vector),
 * on row lengths that exercise the vector tails. Tolerance 1e-6 relative: both are float32, the
 * vector EXP is within ~1 ulp and the softmax sum is added in a different order.
 */
class VectorGateTest {

    @Test
    void theVectorModuleIsUsedUnderTest() {
        assertTrue(Gate.VECTOR, "tests run with --add-modules jdk.incubator.vector (parent pom argLine)");
    }

    @Test
    void softmaxRowsMatchThePlainLoops() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int n : new int[] {1, 3, 7, 8, 16, 17, 32, 60, 64, 128, 160, 257}) {
            float[] x = new float[3 * n], a = new float[3 * n], b = new float[3 * n];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rng.nextGaussian() * 4);
            for (int row = 0; row < 3 * n; row += n) {
                VectorGate.softmaxRow(x, a, row, n);
                Gate.softmaxRowScalar(x, b, row, n);
            }
            for (int i = 0; i < x.length; i++) assertEquals(b[i], a[i], 1e-6 * Math.max(1e-3, b[i]), "n=" + n + " i=" + i);
        }
    }

    @Test
    void sigmoidMatchesThePlainLoop() {
        SplittableRandom rng = new SplittableRandom(6);
        for (int n : new int[] {1, 5, 8, 31, 64, 100}) {
            float[] x = new float[n], a = new float[n], b = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) (rng.nextGaussian() * 6);
            VectorGate.sigmoid(x, a, n);
            Gate.sigmoidScalar(x, b, n);
            for (int i = 0; i < n; i++) assertEquals(b[i], a[i], 1e-6 * Math.max(1e-3, b[i]), "n=" + n + " i=" + i);
        }
    }
}
