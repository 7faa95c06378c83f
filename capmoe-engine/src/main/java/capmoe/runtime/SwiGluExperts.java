package capmoe.runtime;

import capmoe.kernels.Activations;
import capmoe.kernels.Matrix;
import capmoe.kernels.MatMul;

import java.util.List;

/**
 * Routed experts stored as separate gate/up/down matrices per expert (the hub layout of OLMoE,
 * Mixtral w1/w3/w2, Qwen-MoE, DeepSeek), used in place from the checkpoint.
 */
public final class SwiGluExperts implements Experts {

    /** One expert: gate [I x H], up [I x H], down [H x I]. */
    public record Expert(Matrix gate, Matrix up, Matrix down) { }

    private final List<Expert> experts;
    private final int hidden;
    private final int intermediate;

    public SwiGluExperts(List<Expert> experts, int hidden, int intermediate) {
        this.experts = List.copyOf(experts);
        this.hidden = hidden;
        this.intermediate = intermediate;
    }

    @Override
    public int count() { return experts.size(); }

    @Override
    public int hidden() { return hidden; }

    public int intermediate() { return intermediate; }

    public Expert expert(int i) { return experts.get(i); }

    @Override
    public void apply(int expert, float[] x, float[] y, int rows) {
        Expert e = experts.get(expert);
        float[] g = new float[rows * intermediate];
        float[] u = new float[rows * intermediate];
        MatMul.matmul(x, rows, e.gate(), g);
        MatMul.matmul(x, rows, e.up(), u);
        Activations.siluMul(g, u, rows * intermediate);
        MatMul.matmul(g, rows, e.down(), y);
    }
}
