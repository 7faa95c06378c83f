package capmoe.model.nn;

import capmoe.kernels.Activations;
import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.weights.Checkpoint;

/** down(silu(gate(x)) * up(x)): dense layers, Qwen2-MoE's shared expert, DeepSeek's shared experts. */
public record DenseMlp(Matrix gate, Matrix up, Matrix down) implements FeedForward {

    /** Loads {@code prefix + gate_proj/up_proj/down_proj.weight}. */
    public static DenseMlp load(Checkpoint w, String prefix, int hidden, int intermediate, String why) {
        return new DenseMlp(
                w.matrix(prefix + "gate_proj.weight", intermediate, hidden, why),
                w.matrix(prefix + "up_proj.weight", intermediate, hidden, why),
                w.matrix(prefix + "down_proj.weight", hidden, intermediate, why));
    }

    @Override
    public void forward(float[] x, int tokens, Step step, float[] out) {
        int i = gate.rows();
        float[] g = new float[tokens * i], u = new float[tokens * i];
        MatMul.matmul(x, tokens, gate, g);
        MatMul.matmul(x, tokens, up, u);
        Activations.siluMul(g, u, tokens * i);
        MatMul.matmul(g, tokens, down, out);
    }
}
