package capmoe.runtime;

import capmoe.runtime.moe.Dispatch;

/** The routed experts of one MoE layer, each a gated MLP (SwiGLU) over rows of width hidden. */
public interface Experts {
    int count();

    int hidden();

    /**
     * The order in which {@link capmoe.runtime.moe.Combine} adds a token's weighted expert outputs:
     * false (the default) ascending expert id, as HF's per-expert {@code index_add_}; true descending
     * weight, llama.cpp's (its top-k slots come from an argsort of the probabilities and
     * {@code build_moe_ffn} adds the weighted experts slot after slot): {@code --dot reduced}.
     * See {@link capmoe.runtime.moe.Dispatch#sort(capmoe.routing.Routing, int, capmoe.runtime.moe.Dispatch, boolean)}.
     */
    default boolean combineByWeight() { return false; }

    /** y[r] = down(silu(gate(x[r])) * up(x[r])) for r in 0..rows-1; x, y are row-major [rows x hidden]. */
    void apply(int expert, float[] x, float[] y, int rows);

    /**
     * The Experts stage for the experts of {@code list}: each one's dispatched rows of x
     * [tokens x hidden] through the expert, outputs written into y [P x hidden] at its slots (slot
     * order, the buffer {@link capmoe.runtime.moe.Combine#all} reads). By default one expert after
     * another through {@link #apply}; an implementation may run them together (as one grouped
     * operation) but must give the bits {@link #apply} gives.
     */
    default void runAll(Dispatch d, int[] list, float[] x, float[] y) {
        int h = hidden(), max = d.maxRows(list);
        float[] in = new float[max * h];
        float[] out = new float[max * h];
        for (int e : list) {
            int rows = d.rows(e);
            if (rows == 0) continue;
            d.gather(e, x, h, in);
            apply(e, in, out, rows);
            System.arraycopy(out, 0, y, d.start(e) * h, rows * h);
        }
    }
}
