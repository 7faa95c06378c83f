package capmoe.model;

/** Incremental decoding with a KV cache. */
public interface Session {
    /**
     * Appends tokens to each sequence of the batch (prefill or decode; lengths may differ)
     * and returns the logits of every appended position, row-major [appended x vocab].
     */
    float[][] append(int[][] tokens);

    /**
     * As {@link #append}, but returns only each sequence's last appended position [vocab] (what
     * generation needs; skips the LM head for the other positions). Empty for a sequence given no tokens.
     */
    default float[][] appendLast(int[][] tokens) {
        float[][] all = append(tokens);
        float[][] last = new float[all.length][];
        for (int b = 0; b < all.length; b++) {
            int v = tokens[b].length == 0 ? 0 : all[b].length / tokens[b].length;
            last[b] = java.util.Arrays.copyOfRange(all[b], all[b].length - v, all[b].length);
        }
        return last;
    }

    /**
     * As {@link #appendLast(int[][])}, into the caller's arrays: {@code into[b]} (at least vocab
     * floats) gets sequence b's last logits; a sequence given no tokens leaves its array alone. A
     * decode loop that keeps its arrays then allocates no logits per step.
     */
    default void appendLast(int[][] tokens, float[][] into) {
        float[][] last = appendLast(tokens);
        for (int b = 0; b < last.length; b++) {
            if (last[b].length > 0) System.arraycopy(last[b], 0, into[b], 0, last[b].length);
        }
    }

    /**
     * A new session whose sequence i is a copy of this session's sequence {@code sources[i]}: its
     * KV cache and length, same options. A source may appear any number of times (one context,
     * several continuations); this session is left unchanged and both go on independently.
     */
    Session fork(int[] sources);

    /** Tokens held in the cache for sequence b. */
    int length(int b);

    /**
     * Makes room now for sequence b to hold {@code length} positions, so that the steps taking it
     * up to that length allocate nothing for its KV cache (a generator knows the prompt and the
     * new tokens up front; without it the cache grows as steps need, doubling). Never shrinks,
     * changes no result.
     */
    void reserve(int b, int length);

    /**
     * Empties sequence b (a serving slot whose request ended): its length becomes 0 and its cached
     * keys and values are released. The other sequences are untouched.
     */
    void reset(int b);

    /**
     * This session's sequences (the same caches and lengths, not copies) appended to under other
     * run options from now on: a server switches the capacity policy off for decode-only steps.
     */
    Session withOptions(RunOptions options);
}
