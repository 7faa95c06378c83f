package capmoe.model.nn;

/**
 * An attention block (standard GQA, or DeepSeek's latent attention). It owns the layout of its
 * own KV cache, which the decoder only stores.
 */
public interface Attention {
    /** Cache state for {@code batch} sequences. */
    Object newCache(int batch);

    /**
     * Cache state for {@code sources.length} sequences, sequence i a copy of {@code cache}'s sequence
     * {@code sources[i]} holding its first {@code lengths[sources[i]]} positions. Both attentions
     * here keep a {@link KvCache}; a block with another cache layout overrides this.
     */
    default Object forkCache(Object cache, int[] sources, int[] lengths) {
        return ((KvCache) cache).fork(sources, lengths);
    }

    /** Makes room for {@code length} positions of sequence b ({@link capmoe.model.Session#reserve}). Same default as {@link #forkCache}. */
    default void reserveCache(Object cache, int b, int length) {
        ((KvCache) cache).ensure(b, length);
    }

    /** Releases sequence b's cached positions (it restarts empty). Same default as {@link #forkCache}. */
    default void resetCache(Object cache, int b) {
        ((KvCache) cache).clear(b);
    }

    /** x: normed hidden [tokens x hidden]; appends this step's keys/values to cache; writes out [tokens x hidden]. */
    void forward(float[] x, Step step, Object cache, float[] out);
}
