package capmoe.runtime.moe;

import capmoe.routing.Routing;

/**
 * The Dispatch stage: one layer call's kept (token, expert) pairs sorted by expert, so each
 * expert's rows can be gathered into one contiguous block and run as one grouped matmul.
 *
 * <p>Steps of {@link #sort}: (1) count the kept pairs of each expert; (2) prefix sums give each
 * expert's first slot; (3) walk the tokens in ascending order and drop each pair into its
 * expert's next free slot (a stable counting sort: inside an expert's group, tokens stay
 * ascending). Every executor (local, in-JVM devices, MPI ranks) uses this order, and
 * {@link Combine} adds the outputs back in it; that shared order is what makes their results
 * bit-identical.
 *
 * <p>Buffers (E = experts, P = kept pairs of the call):
 * <ul>
 *   <li>{@code start} [E+1]: expert e's pairs are slots {@code start[e] .. start[e+1]-1}; start[E] = P.</li>
 *   <li>{@code token} [P]: the token (row of the layer's x and out) of each slot.</li>
 *   <li>{@code weight} [P]: the combine weight w of each slot (the routing's kept weight).</li>
 * </ul>
 */
public final class Dispatch {
    private final int[] start;
    private final int[] token;
    private final float[] weight;

    private Dispatch(int[] start, int[] token, float[] weight) {
        this.start = start;
        this.token = token;
        this.weight = weight;
    }

    /** Sorts the kept pairs of {@code routing} (tokens x its experts) by expert id 0..experts-1. */
    public static Dispatch sort(Routing routing, int experts) {
        int tokens = routing.tokens();
        int[] offsets = routing.offsets(), ids = routing.expertIds();
        float[] weights = routing.weights();
        int[] start = new int[experts + 1];
        for (int p = 0; p < offsets[tokens]; p++) start[ids[p] + 1]++;
        for (int e = 0; e < experts; e++) start[e + 1] += start[e];
        int pairs = start[experts];
        int[] token = new int[pairs];
        float[] weight = new float[pairs];
        int[] fill = start.clone();
        for (int t = 0; t < tokens; t++) {
            for (int p = offsets[t]; p < offsets[t + 1]; p++) {
                int slot = fill[ids[p]]++;
                token[slot] = t;
                weight[slot] = weights[p];
            }
        }
        return new Dispatch(start, token, weight);
    }

    /** Number of experts E. */
    public int experts() { return start.length - 1; }

    /** Number of kept pairs P (= slots). */
    public int pairs() { return start[start.length - 1]; }

    /** First slot of expert e. */
    public int start(int e) { return start[e]; }

    /** Rows (kept pairs) of expert e. */
    public int rows(int e) { return start[e + 1] - start[e]; }

    /** The token of a slot. */
    public int token(int slot) { return token[slot]; }

    /** The combine weight of a slot. */
    public float weight(int slot) { return weight[slot]; }

    /** The largest group among {@code experts} (the size of a per-expert scratch block). */
    public int maxRows(int[] experts) {
        int m = 0;
        for (int e : experts) m = Math.max(m, rows(e));
        return m;
    }

    /** The largest group of all experts. */
    public int maxRows() {
        int m = 0;
        for (int e = 0; e < experts(); e++) m = Math.max(m, rows(e));
        return m;
    }

    /** Gathers expert e's rows of x [tokens x h] into in[0 .. rows(e)*h), tokens ascending. */
    public void gather(int e, float[] x, int h, float[] in) {
        gather(e, x, h, in, 0);
    }

    /** As {@link #gather(int, float[], int, float[])}, into rows {@code atRow ..} of in (a send buffer's block). */
    public void gather(int e, float[] x, int h, float[] in, int atRow) {
        for (int r = atRow, s = start[e]; s < start[e + 1]; r++, s++) System.arraycopy(x, token[s] * h, in, r * h, h);
    }
}
