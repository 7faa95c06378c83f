package capmoe.runtime.moe;

import capmoe.kernels.Parallel;
import capmoe.kernels.ThreadSlot;

/**
 * The Combine stage: {@code out[t] += w * y} for every kept pair, in one fixed order, experts
 * ascending and, inside an expert, tokens ascending ({@link Dispatch}'s slot order). Per output
 * element that is a sum over the token's kept experts in ascending expert id (or, for a dispatch
 * sorted {@code byWeight}, in descending weight: llama.cpp's order, {@link #all} only), whoever computed
 * y (local, an in-JVM device, another MPI rank): the order every executor shares, so their
 * outputs are bit-identical. Each product {@code w * y} is rounded, then added (not fused).
 */
public final class Combine {
    private Combine() { }

    /** The expert whose slot range holds slot s (binary search over the starts). */
    private static int expertOf(Dispatch d, int s) {
        int lo = 0, hi = d.experts() - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (d.start(mid) <= s) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /**
     * Adds expert e's weighted outputs: y rows {@code yRow .. yRow+rows(e)-1} [.. x h] belong to
     * e's slots in order; out is [tokens x h].
     */
    public static void expert(Dispatch d, int e, float[] y, int yRow, float[] out, int h) {
        for (int s = d.start(e), r = yRow; s < d.start(e) + d.rows(e); s++, r++) {
            float w = d.weight(s);
            int o = d.token(s) * h, yo = r * h;
            for (int c = 0; c < h; c++) out[o + c] += w * y[yo + c];
        }
    }

    /**
     * Adds every pair's weighted output; y is in slot order [P x h] (row s = slot s's expert
     * output). Parallel over even ranges of tokens ({@link Parallel#forWork}; a decode step's one
     * token stays on the caller): each output row is one thread's, and sums its token's pairs in
     * slot order ({@link Dispatch#bySlot}), whatever the split. (Split over columns instead, the
     * threads wrote the two halves of every row: a cache line shared at each split.)
     */
    public static void all(Dispatch d, float[] y, float[] out, int h) {
        all(d, y, null, out, h);
    }

    /**
     * As {@link #all(Dispatch, float[], float[], int)} with expert e's slots at rows
     * {@code rowOf[e] ..} of y instead of at {@code d.start(e)} (a multi-process call's receive
     * buffer, experts grouped by rank); null: slot order.
     */
    public static void all(Dispatch d, float[] y, int[] rowOf, float[] out, int h) {
        int tokens = d.tokens();
        if (tokens == 0) return;
        Call c = CALL.take();
        c.d = d;
        c.y = y;
        c.rowOf = rowOf;
        c.out = out;
        c.h = h;
        try {
            Parallel.current().forWork(tokens, (long) h * Math.max(1, d.pairs() / tokens), c);
        } finally {
            c.d = null;
            c.y = null;
            c.rowOf = null;
            c.out = null;
            CALL.put(c);
        }
    }

    /**
     * Per calling thread: {@link #all}'s phase body and its arguments, reused by the next call (a
     * decode step allocates no lambda here), taken out of the slot while a call runs.
     */
    private static final ThreadSlot<Call> CALL = new ThreadSlot<>(Call::new);

    private static final class Call implements Parallel.Range {
        Dispatch d;
        float[] y, out;
        int[] rowOf;
        int h;

        /** Tokens [t0, t1): each one's pairs in slot order. */
        @Override
        public void run(int t0, int t1) {
            for (int t = t0; t < t1; t++) {
                int o = t * h;
                for (int i = d.tokenStart(t); i < d.tokenStart(t + 1); i++) {
                    int s = d.bySlot(i), yo = (rowOf == null ? s : rowOf[expertOf(d, s)] + s - d.start(expertOf(d, s))) * h;
                    float w = d.weight(s);
                    for (int c = 0; c < h; c++) out[o + c] += w * y[yo + c];
                }
            }
        }
    }
}
