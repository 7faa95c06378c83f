package capmoe.runtime.moe;

import capmoe.routing.Routing;

/**
 * The Dispatch stage: one layer call's kept (token, expert) pairs sorted by expert, so each
 * expert's rows can be gathered into one contiguous block and run as one grouped matmul.
 *
 * <p>Steps of {@link #sort}: (1) count the kept pairs of each expert; (2) prefix sums give each
 * expert's first slot; (3) walk the tokens in ascending order and drop each pair into its
 * expert's next free slot (a stable counting sort: inside an expert's group, tokens stay
 * ascending); (4) index the slots by token ({@link #indexByToken}). Every executor (local, in-JVM devices, MPI ranks) uses this order, and
 * {@link Combine} adds the outputs back in it; that shared order is what makes their results
 * bit-identical.
 *
 * <p>Buffers (E = experts, P = kept pairs of the call):
 * <ul>
 *   <li>{@code start} [E+1]: expert e's pairs are slots {@code start[e] .. start[e+1]-1}; start[E] = P.</li>
 *   <li>{@code token} [P]: the token (row of the layer's x and out) of each slot.</li>
 *   <li>{@code weight} [P]: the combine weight w of each slot (the routing's kept weight).</li>
 *   <li>{@code tokenStart} [T+1], {@code bySlot} [P]: token t's slots, ascending, are
 *       {@code bySlot[tokenStart[t] .. tokenStart[t+1])} (step 4 of {@link #sort}: a counting sort
 *       of the slots by token; what {@link Combine#all} reads to sum a token's outputs in slot order);
 *       with {@code byWeight} each token's slots in descending weight instead, ties ascending
 *       (llama.cpp's order, for {@code --dot reduced}: {@link capmoe.runtime.Experts#combineByWeight}).</li>
 * </ul>
 */
public final class Dispatch {
    private int experts;
    private int[] start;                        // [E+1] used of it
    private int[] token;                        // [P] used of it
    private float[] weight;                     // [P] used of it
    private int[] fill = new int[0];            // [E] sort's next free slot per expert
    private int tokens;                         // T: tokens 0..T-1 of the call (rows of x and out)
    private int[] tokenStart = new int[1];      // [T+1] used of it
    private int[] bySlot = new int[0];          // [P] used of it
    private boolean byWeight;                   // each token's bySlot in descending weight (llama.cpp's order)

    private Dispatch(int[] start, int[] token, float[] weight) {
        this.experts = start.length - 1;
        this.start = start;
        this.token = token;
        this.weight = weight;
    }

    /** Sorts the kept pairs of {@code routing} (tokens x its experts) by expert id 0..experts-1. */
    public static Dispatch sort(Routing routing, int experts) {
        return sort(routing, experts, null);
    }

    /**
     * As {@link #sort(Routing, int)}, in {@code reuse}'s buffers (grown when too small) when it is
     * not null: a decode step then allocates nothing here. The result is {@code reuse} itself,
     * valid until its next sort; a caller that keeps dispatches passes null.
     */
    public static Dispatch sort(Routing routing, int experts, Dispatch reuse) {
        return sort(routing, experts, reuse, false);
    }

    /**
     * As {@link #sort(Routing, int, Dispatch)}; {@code byWeight} orders each token's slots for
     * {@link Combine} by descending weight (ties: ascending slot), as llama.cpp adds a token's weighted
     * experts (its top-k slots are an argsort of the probabilities, best first).
     */
    public static Dispatch sort(Routing routing, int experts, Dispatch reuse, boolean byWeight) {
        int tokens = routing.tokens();
        int[] offsets = routing.offsets(), ids = routing.expertIds();
        float[] weights = routing.weights();
        int pairs = offsets[tokens];
        Dispatch d = reuse != null ? reuse : new Dispatch(new int[experts + 1], new int[pairs], new float[pairs]);
        d.experts = experts;
        d.byWeight = byWeight;
        if (d.start.length < experts + 1) d.start = new int[experts + 1];
        if (d.token.length < pairs) {
            d.token = new int[pairs];
            d.weight = new float[pairs];
        }
        if (d.fill.length < experts) d.fill = new int[experts];
        int[] start = d.start, token = d.token, fill = d.fill;
        float[] weight = d.weight;
        java.util.Arrays.fill(start, 0, experts + 1, 0);
        for (int p = 0; p < pairs; p++) start[ids[p] + 1]++;
        for (int e = 0; e < experts; e++) start[e + 1] += start[e];
        System.arraycopy(start, 0, fill, 0, experts);
        for (int t = 0; t < tokens; t++) {
            for (int p = offsets[t]; p < offsets[t + 1]; p++) {
                int slot = fill[ids[p]]++;
                token[slot] = t;
                weight[slot] = weights[p];
            }
        }
        d.indexByToken(tokens);
        return d;
    }

    /** Step 4 of {@link #sort}: {@code bySlot} and {@code tokenStart} for tokens 0..tokens-1 (slots walked in ascending order, so each token's stay ascending). */
    private void indexByToken(int tokens) {
        int pairs = pairs();
        this.tokens = tokens;
        if (tokenStart.length < tokens + 1) tokenStart = new int[tokens + 1];
        if (bySlot.length < pairs) bySlot = new int[pairs];
        int[] ts = tokenStart;
        java.util.Arrays.fill(ts, 0, tokens + 1, 0);
        for (int s = 0; s < pairs; s++) ts[token[s] + 1]++;
        for (int t = 0; t < tokens; t++) ts[t + 1] += ts[t];
        for (int s = 0; s < pairs; s++) bySlot[ts[token[s]]++] = s;
        for (int t = tokens; t > 0; t--) ts[t] = ts[t - 1];       // the fill moved each start to the next token's
        ts[0] = 0;
        if (byWeight) {
            for (int t = 0; t < tokens; t++) {                      // insertion sort: a token has top-k slots
                for (int i = ts[t] + 1; i < ts[t + 1]; i++) {
                    int s = bySlot[i], j = i;
                    for (; j > ts[t] && weight[bySlot[j - 1]] < weight[s]; j--) bySlot[j] = bySlot[j - 1];
                    bySlot[j] = s;
                }
            }
        }
    }

    /** Number of experts E. */
    public int experts() { return experts; }

    /** Number of kept pairs P (= slots). */
    public int pairs() { return start[experts]; }

    /** First slot of expert e. */
    public int start(int e) { return start[e]; }

    /** Rows (kept pairs) of expert e. */
    public int rows(int e) { return start[e + 1] - start[e]; }

    /** The token of a slot. */
    public int token(int slot) { return token[slot]; }

    /** The combine weight of a slot. */
    public float weight(int slot) { return weight[slot]; }

    /** Tokens T of the call: the rows of x and out (sort: the routing's tokens; {@link #select}: up to the last kept slot's token). */
    public int tokens() { return tokens; }

    /** Token t's first index into {@link #bySlot}; its slots are {@code bySlot(tokenStart(t)) .. bySlot(tokenStart(t+1)-1)}. */
    public int tokenStart(int t) { return tokenStart[t]; }

    /** The i-th slot in token order (a token's slots ascending, or by descending weight: {@link #sort(Routing, int, Dispatch, boolean)}). */
    public int bySlot(int i) { return bySlot[i]; }

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

    /**
     * The dispatch of a subset of this one's slots (a device's share of replicated experts):
     * slots {@code slots[0 .. n)}, ascending, keep their expert, token and weight, in that order;
     * slot i of the result is {@code slots[i]} of this one.
     * <ol>
     *   <li>walk the slots with the expert whose range holds each (ascending slots: the expert only grows);</li>
     *   <li>count each expert's kept slots and copy their token and weight;</li>
     *   <li>prefix sums give each expert's first slot in the result.</li>
     * </ol>
     */
    public Dispatch select(int[] slots, int n) {
        int experts = experts();
        int[] st = new int[experts + 1];
        int[] tok = new int[n];
        float[] w = new float[n];
        int e = 0;
        for (int i = 0; i < n; i++) {
            int s = slots[i];
            if (s < 0 || s >= pairs() || (i > 0 && s <= slots[i - 1])) {
                throw new IllegalArgumentException("slot " + s + " at " + i + " is not ascending inside 0.." + (pairs() - 1));
            }
            while (start[e + 1] <= s) e++;
            st[e + 1]++;
            tok[i] = token[s];
            w[i] = weight[s];
        }
        for (int k = 0; k < experts; k++) st[k + 1] += st[k];
        Dispatch d = new Dispatch(st, tok, w);
        d.byWeight = byWeight;
        d.indexByToken(n == 0 ? 0 : java.util.Arrays.stream(tok, 0, n).max().getAsInt() + 1);
        return d;
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
