package capmoe.runtime.moe;

import capmoe.kernels.Parallel;

/**
 * The Combine stage: {@code out[t] += w * y} for every kept pair, in one fixed order, experts
 * ascending and, inside an expert, tokens ascending ({@link Dispatch}'s slot order). Per output
 * element that is a sum over the token's kept experts in ascending expert id, whoever computed
 * y (local, an in-JVM device, another MPI rank): the order every executor shares, so their
 * outputs are bit-identical. Each product {@code w * y} is rounded, then added (not fused).
 */
public final class Combine {
    private Combine() { }

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
     * output). Parallel over even column ranges ({@link Parallel#forWork}: P multiply-adds per
     * column; a decode step's few pairs stay on the caller): each element still sums its pairs
     * in slot order, whatever the split.
     */
    public static void all(Dispatch d, float[] y, float[] out, int h) {
        Parallel.current().forWork(h, d.pairs(), (c0, c1) -> {
            for (int s = 0; s < d.pairs(); s++) {
                float w = d.weight(s);
                int o = d.token(s) * h, yo = s * h;
                for (int c = c0; c < c1; c++) out[o + c] += w * y[yo + c];
            }
        });
    }
}
