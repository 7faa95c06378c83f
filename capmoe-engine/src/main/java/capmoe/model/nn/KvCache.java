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

    /**
     * A cache for {@code sources.length} sequences: sequence i holds a copy of the first
     * {@code lengths[sources[i]]} positions of this cache's sequence {@code sources[i]}. Copies, not
     * shared arrays, because each forked sequence then appends its own positions after them.
     */
    public KvCache fork(int[] sources, int[] lengths) {
        KvCache out = new KvCache(sources.length, kWidth, vWidth);
        for (int i = 0; i < sources.length; i++) {
            int s = sources[i];
            out.k[i] = Arrays.copyOf(k[s], lengths[s] * kWidth);
            out.v[i] = Arrays.copyOf(v[s], lengths[s] * vWidth);
        }
        return out;
    }

    /** Drops sequence b's keys and values (its memory goes back to the heap). */
    public void clear(int b) {
        k[b] = new float[0];
        v[b] = new float[0];
    }

    public float[] keys(int b) { return k[b]; }

    public float[] values(int b) { return v[b]; }
}
