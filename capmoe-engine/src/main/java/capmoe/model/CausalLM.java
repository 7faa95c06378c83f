package capmoe.model;

/**
 * A loaded MoE language model. Every MoE layer routes through capmoe-routing with the policy
 * and runs its experts through the executor given in {@link RunOptions}.
 */
public interface CausalLM extends AutoCloseable {

    /** The parsed HF config this model was built from. */
    ModelConfig config();

    /**
     * Full-sequence forward pass (no cache) over a batch of sequences of possibly different
     * lengths (shorter ones are padded and masked internally). Returns logits per sequence,
     * row-major [length x vocab].
     */
    float[][] forward(int[][] sequences, RunOptions options);

    /** A KV-cached decoding session for {@code batch} sequences. */
    Session newSession(int batch, RunOptions options);

    @Override
    void close();
}
