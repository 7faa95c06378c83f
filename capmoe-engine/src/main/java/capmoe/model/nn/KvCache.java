package capmoe.model.nn;

import java.util.Arrays;

/**
 * Per-sequence keys and values in blocks of {@link #BLOCK} positions, laid out for
 * {@link CachedAttention}: sequence b's positions {@code BLOCK*n .. BLOCK*n+BLOCK-1} form block n,
 * and inside a block every kv head's keys and values are contiguous:
 * <pre>
 * keys(b)   [block][kv head][dk][BLOCK]   key dim c of position p, head h at keyOffset(p, h) + c*BLOCK
 * values(b) [block][kv head][BLOCK][dv]   value dim e of position p, head h at valueOffset(p, h) + e
 * </pre>
 * Keys are transposed inside a block (positions in the fast index), so a block of scores is a small
 * GEMM with the positions in vector lanes and no horizontal sums; values keep positions as rows, so
 * p·v is a GEMM with the head dims in lanes. Growing appends blocks (one copy, no re-layout), as
 * paged attention's block tables do. Positions past a sequence's length inside its last block hold
 * whatever was there (zeros, or a forked source's later positions); {@link CachedAttention} never
 * uses them.
 */
public final class KvCache {
    /** Positions per block; also the softmax's block boundaries (fixed from position 0). */
    public static final int BLOCK = 32;

    private final int heads, dk, dv;
    private final float[][] k, v;

    /** A cache for {@code batch} sequences of {@code heads} kv heads, keys of dk and values of dv floats. */
    public KvCache(int batch, int heads, int dk, int dv) {
        this.heads = heads;
        this.dk = dk;
        this.dv = dv;
        this.k = new float[batch][0];
        this.v = new float[batch][0];
    }

    public int heads() { return heads; }

    public int keyDim() { return dk; }

    public int valueDim() { return dv; }

    /** Blocks sequence b has room for. */
    private int blocks(int b) {
        return k[b].length / (heads * dk * BLOCK);
    }

    /** Makes room for positions 0..length-1 of sequence b (capacity doubles, in whole blocks). */
    public void ensure(int b, int length) {
        int need = (length + BLOCK - 1) / BLOCK, have = blocks(b);
        if (have < need) {
            int cap = Math.max(need, Math.max(1, 2 * have));
            k[b] = Arrays.copyOf(k[b], cap * heads * dk * BLOCK);
            v[b] = Arrays.copyOf(v[b], cap * heads * dv * BLOCK);
        }
    }

    /** Where key dim 0 of position p, kv head h lives in {@link #keys}; dim c is {@code c*BLOCK} further. */
    public int keyOffset(int p, int h) {
        return ((p / BLOCK) * heads + h) * dk * BLOCK + p % BLOCK;
    }

    /** Where value dim 0 of position p, kv head h lives in {@link #values}; dim e is e further. */
    public int valueOffset(int p, int h) {
        return (((p / BLOCK) * heads + h) * BLOCK + p % BLOCK) * dv;
    }

    /**
     * Writes position p of sequence b, kv head h: key {@code key[ko .. ko+dk)}, value
     * {@code value[vo .. vo+dv)} (room made by {@link #ensure}).
     */
    public void put(int b, int p, int h, float[] key, int ko, float[] value, int vo) {
        putKey(b, p, h, 0, dk, key, ko);
        putValue(b, p, h, value, vo);
    }

    /** Key dims from..from+n-1 of position p, kv head h of sequence b, from {@code src[so ..]}. */
    public void putKey(int b, int p, int h, int from, int n, float[] src, int so) {
        float[] kb = k[b];
        int at = keyOffset(p, h) + from * BLOCK;
        for (int c = 0; c < n; c++) kb[at + c * BLOCK] = src[so + c];
    }

    /** The value of position p, kv head h of sequence b, from {@code src[so .. so+dv)}. */
    public void putValue(int b, int p, int h, float[] src, int so) {
        System.arraycopy(src, so, v[b], valueOffset(p, h), dv);
    }

    /**
     * A cache for {@code sources.length} sequences: sequence i holds a copy of the first
     * {@code lengths[sources[i]]} positions of this cache's sequence {@code sources[i]}. Copies, not
     * shared arrays, because each forked sequence then appends its own positions after them.
     */
    public KvCache fork(int[] sources, int[] lengths) {
        KvCache out = new KvCache(sources.length, heads, dk, dv);
        for (int i = 0; i < sources.length; i++) {
            int s = sources[i], blocks = (lengths[s] + BLOCK - 1) / BLOCK;
            out.k[i] = Arrays.copyOf(k[s], blocks * heads * dk * BLOCK);
            out.v[i] = Arrays.copyOf(v[s], blocks * heads * dv * BLOCK);
        }
        return out;
    }

    /** Drops sequence b's keys and values (its memory goes back to the heap). */
    public void clear(int b) {
        k[b] = new float[0];
        v[b] = new float[0];
    }

    /** Sequence b's keys, [block][kv head][dk][BLOCK]. */
    public float[] keys(int b) { return k[b]; }

    /** Sequence b's values, [block][kv head][BLOCK][dv]. */
    public float[] values(int b) { return v[b]; }
}
