package capmoe.model.nn;

import java.util.Arrays;

/** Per-sequence keys and values [positions x width], grown by doubling. */
public final class KvCache {
    private final int kWidth, vWidth;
    private final float[][] k, v;

    public KvCache(int batch, int kWidth, int vWidth) {
        this.kWidth = kWidth;
        this.vWidth = vWidth;
        this.k = new float[batch][0];
        this.v = new float[batch][0];
    }

    /** Makes room for positions 0..length-1 of sequence b. */
    public void ensure(int b, int length) {
        if (k[b].length < (long) length * kWidth) {
            int cap = Math.max(length, Math.max(16, 2 * k[b].length / kWidth));
            k[b] = Arrays.copyOf(k[b], cap * kWidth);
            v[b] = Arrays.copyOf(v[b], cap * vWidth);
        }
    }

    public float[] keys(int b) { return k[b]; }

    public float[] values(int b) { return v[b]; }
}
