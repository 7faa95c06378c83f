package capmoe.model.nn;

/**
 * The tokens of one forward step, packed: sequence b owns packed rows start[b] .. start[b+1]-1,
 * at positions past[b], past[b]+1, ... (past[b] = tokens already in its KV cache). Packing instead
 * of padding means padding never exists: each token attends only to its own sequence's earlier
 * tokens, which is what HF's padded batch + attention mask computes for the real tokens.
 */
public record Batch(int sequences, int tokens, int[] start, int[] past, int[] sequenceOf, int[] position) {

    public static Batch of(int[][] tokens, int[] past) {
        return of(tokens, past, null);
    }

    /**
     * As {@link #of(int[][], int[])}, refilling {@code reuse}'s arrays and returning it when it
     * has the same shape (as many sequences, each with as many tokens: a decode step after a
     * decode step), so a steady decode allocates nothing here; otherwise a new Batch. For a caller
     * that owns {@code reuse} and keeps nothing of it past its step.
     */
    public static Batch of(int[][] tokens, int[] past, Batch reuse) {
        if (reuse != null && sameShape(reuse, tokens)) {
            for (int i = 0; i < tokens.length; i++) {
                reuse.past[i] = past[i];
                for (int j = 0; j < tokens[i].length; j++) reuse.position[reuse.start[i] + j] = past[i] + j;
            }
            return reuse;
        }
        int b = tokens.length;
        int[] start = new int[b + 1];
        for (int i = 0; i < b; i++) start[i + 1] = start[i] + tokens[i].length;
        int t = start[b];
        int[] seq = new int[t], pos = new int[t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < tokens[i].length; j++) {
                seq[start[i] + j] = i;
                pos[start[i] + j] = past[i] + j;
            }
        }
        return new Batch(b, t, start, past.clone(), seq, pos);
    }

    private static boolean sameShape(Batch b, int[][] tokens) {
        if (b.sequences != tokens.length) return false;
        for (int i = 0; i < tokens.length; i++) if (b.start[i + 1] - b.start[i] != tokens[i].length) return false;
        return true;
    }
}
