package capmoe.model;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Helpers for tests that compare two computations of the same math (cache vs no cache, padded vs
 * alone, forked vs full): they differ only in the order of fp32 additions, so they agree to
 * 1e-5 of the largest |logit|.
 */
public final class SameMath {
    private SameMath() { }

    public static final double TOLERANCE = 1e-5;

    /** n token ids below vocab, reproducible for a seed. */
    public static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    /** max|expected - actual| / max|expected|. */
    public static double relativeError(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double max = 0, err = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i]));
            err = Math.max(err, Math.abs((double) expected[i] - actual[i]));
        }
        return err / max;
    }

    /** Same length and within {@link #TOLERANCE} of max|expected|; two empty arrays agree. */
    public static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        if (expected.length == 0) return;
        double rel = relativeError(expected, actual);
        assertTrue(rel <= TOLERANCE, what + ": relative error " + rel + " > " + TOLERANCE);
    }
}
