package capmoe.model.nn;

/**
 * An attention block (standard GQA, or DeepSeek's latent attention). It owns the layout of its
 * own KV cache, which the decoder only stores.
 */
public interface Attention {
    /** Cache state for {@code batch} sequences. */
    Object newCache(int batch);

    /** x: normed hidden [tokens x hidden]; appends this step's keys/values to cache; writes out [tokens x hidden]. */
    void forward(float[] x, Step step, Object cache, float[] out);
}
