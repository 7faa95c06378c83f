package capmoe.runtime;

/** The routed experts of one MoE layer, each a gated MLP (SwiGLU) over rows of width hidden. */
public interface Experts {
    int count();

    int hidden();

    /** y[r] = down(silu(gate(x[r])) * up(x[r])) for r in 0..rows-1; x, y are row-major [rows x hidden]. */
    void apply(int expert, float[] x, float[] y, int rows);
}
