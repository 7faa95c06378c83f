package capmoe.model;

/** Incremental decoding with a KV cache. */
public interface Session {
    /**
     * Appends tokens to each sequence of the batch (prefill or decode; lengths may differ)
     * and returns the logits of every appended position, row-major [appended x vocab].
     */
    float[][] append(int[][] tokens);

    /** Tokens held in the cache for sequence b. */
    int length(int b);
}
