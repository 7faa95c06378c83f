package capmoe.model;

/**
 * Observes intermediate activations of a forward pass (for reference checks and debugging).
 * Arrays are only valid during the call.
 */
public interface Trace {
    Trace NONE = new Trace() { };

    /**
     * HF {@code hidden_states[index]}: 0 = embeddings, i = output of layer i-1, and the last one
     * (index numHiddenLayers) is the output of the final norm. x is packed [tokens x hidden].
     */
    default void hidden(int index, float[] x, int tokens) { }

    /** Router logits of the MoE block of decoder layer {@code layer}, [tokens x experts]. */
    default void routerLogits(int layer, float[] logits, int tokens) { }
}
