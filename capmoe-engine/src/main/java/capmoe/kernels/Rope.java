package capmoe.kernels;

/**
 * Rotary position embedding applied HF style ("rotate_half"): element i pairs with i + d/2.
 * cos/sin hold d/2 values for one position (HF repeats them for both halves).
 */
public final class Rope {
    private Rope() { }

    /** x[off .. off+d) rotated in place. */
    public static void rotateHalf(float[] x, int off, int d, float[] cos, float[] sin, int csOff) {
        int h = d / 2;
        for (int i = 0; i < h; i++) {
            float a = x[off + i], b = x[off + h + i];
            float c = cos[csOff + i], s = sin[csOff + i];
            x[off + i] = a * c - b * s;
            x[off + h + i] = b * c + a * s;
        }
    }

    /**
     * The permutation HF applies before rotate_half when {@code rope_interleave} is set (DeepSeek):
     * [x0 x1 x2 x3 ..] becomes [x0 x2 .. | x1 x3 ..], turning adjacent pairs into half pairs.
     */
    public static void deinterleave(float[] x, int off, int d, float[] scratch) {
        deinterleave(x, off, d, scratch, 0);
    }

    /** As above, with the d scratch floats at {@code scratch[so ..]} (a row of a shared buffer). */
    public static void deinterleave(float[] x, int off, int d, float[] scratch, int so) {
        int h = d / 2;
        for (int i = 0; i < h; i++) {
            scratch[so + i] = x[off + 2 * i];
            scratch[so + h + i] = x[off + 2 * i + 1];
        }
        System.arraycopy(scratch, so, x, off, d);
    }
}
