package capmoe.model.nn;

/** The MLP half of a decoder layer: dense SwiGLU or a sparse MoE block. */
public interface FeedForward {
    /** out = block(x) for x [tokens x hidden]; out is overwritten. */
    void forward(float[] x, int tokens, Step step, float[] out);
}
