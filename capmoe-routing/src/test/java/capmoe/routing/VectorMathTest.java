package capmoe.routing;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tier-independent exp and lane sum. Reference: {@code Math.exp} in double rounded once to
 * float (correctly rounded but for rare double-rounding ties). Tolerance 2 ulp of the result:
 * Cephes' degree-6 polynomial on |r| <= ln2/2 is good to about 1.5 ulp in float arithmetic.
 */
class VectorMathTest {

    static final int L = VectorMath.species().length();

    @Test
    void expIsWithinTwoUlpOverTheWholeFloatRange() {
        int checked = 0;
        for (double x = -110; x <= 90; x += 1e-3) checked += checkExp((float) x);
        SplittableRandom rng = new SplittableRandom(1);
        for (int i = 0; i < 200_000; i++) checked += checkExp((float) (rng.nextDouble() * 2 - 1) * 3);
        assertTrue(checked >= 390_000, "checked " + checked);
    }

    private static int checkExp(float x) {
        float want = (float) Math.exp(x);
        float got = VectorMath.exp(x);
        if (Float.isInfinite(want) || want == 0f) {
            // beyond the range both must agree on the limit, except at the very edge where 2 ulp
            // of rounding may decide between the largest float and infinity (or 0 and MIN_VALUE)
            assertTrue(got == want || Math.abs(got - want) <= 2 * Float.MIN_VALUE
                    || (Float.isInfinite(want) && got >= Float.MAX_VALUE * 0.99999f), "exp(" + x + ") = " + got + ", want " + want);
        } else {
            assertEquals(want, got, 2 * Math.ulp(want), "exp(" + x + ")");
        }
        return 1;
    }

    @Test
    void expHandlesTheSpecialValues() {
        assertEquals(1f, VectorMath.exp(0f));
        assertEquals(Float.POSITIVE_INFINITY, VectorMath.exp(100f));
        assertEquals(Float.POSITIVE_INFINITY, VectorMath.exp(Float.POSITIVE_INFINITY));
        assertEquals(0f, VectorMath.exp(-200f));
        assertEquals(0f, VectorMath.exp(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(VectorMath.exp(Float.NaN)));
        float[] x = {0f, 100f, Float.POSITIVE_INFINITY, -200f, Float.NEGATIVE_INFINITY, Float.NaN, -1f, 1f};
        float[] lanes = new float[L];
        for (int i = 0; i < L; i++) lanes[i] = x[i % x.length];
        float[] got = VectorMath.exp(FloatVector.fromArray(VectorMath.species(), lanes, 0)).toArray();
        for (int i = 0; i < L; i++) assertEquals(VectorMath.exp(lanes[i]), got[i], 0f, "lane " + i + " exp(" + lanes[i] + ")");
    }

    /** A vector body and a scalar tail must agree, or a row's result would depend on its length. */
    @Test
    void everyLaneEqualsTheScalarFormBitForBit() {
        SplittableRandom rng = new SplittableRandom(2);
        float[] x = new float[L];
        for (int trial = 0; trial < 20_000; trial++) {
            for (int i = 0; i < L; i++) x[i] = (float) (rng.nextGaussian() * (trial % 3 == 0 ? 40 : 4));
            float[] got = VectorMath.exp(FloatVector.fromArray(VectorMath.species(), x, 0)).toArray();
            for (int i = 0; i < L; i++) {
                assertEquals(Float.floatToRawIntBits(VectorMath.exp(x[i])), Float.floatToRawIntBits(got[i]), "exp(" + x[i] + ")");
            }
        }
    }

    /** The sum's order is the pairwise tree: lanes i and i^d for d = L/2 .. 1; the same bits for lanes stored in an array. */
    @Test
    void sumAddsTheLanesInTheDocumentedOrder() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int trial = 0; trial < 10_000; trial++) {
            float[] x = new float[L];
            for (int i = 0; i < L; i++) x[i] = (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(-3, 4)));
            float[] t = x.clone();
            for (int d = L / 2; d >= 1; d /= 2) {
                float[] n = new float[L];
                for (int i = 0; i < L; i++) n[i] = t[i] + t[i ^ d];
                t = n;
            }
            float got = VectorMath.sum(FloatVector.fromArray(VectorMath.species(), x, 0));
            assertEquals(Float.floatToRawIntBits(t[0]), Float.floatToRawIntBits(got), "trial " + trial);
            float[] stored = new float[L + 3];
            System.arraycopy(x, 0, stored, 3, L);
            assertEquals(Float.floatToRawIntBits(got), Float.floatToRawIntBits(VectorMath.sum(stored, 3)), "trial " + trial + ", lanes in an array");
        }
    }
}
