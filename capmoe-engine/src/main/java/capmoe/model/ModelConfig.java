package capmoe.model;

import java.nio.file.Path;
import java.util.List;

/**
 * A model's HF {@code config.json}, for the supported model_types (olmoe, mixtral, qwen2_moe,
 * qwen3_moe, deepseek_v2, deepseek_v3). Names follow the HF keys. Read with {@link #read(Path)}.
 *
 * @param numExperts        routed experts per MoE layer (num_experts / num_local_experts / n_routed_experts)
 * @param topK              num_experts_per_tok
 * @param intermediateSize  dense MLP width (intermediate_size)
 * @param moeIntermediateSize width of one routed expert (moe_intermediate_size, or intermediate_size for OLMoE/Mixtral)
 * @param sharedExpertIntermediateSize Qwen2-MoE shared expert width; 0 when the model has none
 * @param attentionBias     q/k/v projections carry a bias (Qwen2-MoE qkv_bias)
 * @param deepseek          the DeepSeek keys, null for other models
 * @param dtype             the checkpoint's dtype ("dtype" / "torch_dtype"), e.g. bfloat16
 */
public record ModelConfig(String modelType, int vocabSize, int hiddenSize, int numHiddenLayers,
                          int numAttentionHeads, int numKeyValueHeads, int headDim,
                          int intermediateSize, int moeIntermediateSize, int numExperts, int topK,
                          boolean normTopkProb, int sharedExpertIntermediateSize,
                          int decoderSparseStep, List<Integer> mlpOnlyLayers,
                          double rmsNormEps, RopeConfig rope, int maxPositionEmbeddings,
                          boolean attentionBias, boolean tieWordEmbeddings,
                          int bosTokenId, List<Integer> eosTokenIds, int padTokenId,
                          DeepSeekConfig deepseek, String dtype) {

    /** Reads {@code dir/config.json}, or a GGUF file's metadata ({@link GgufModel#config}); errors name the file and the key. */
    public static ModelConfig read(Path dir) {
        if (java.nio.file.Files.isRegularFile(dir)) {
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                return GgufModel.config(capmoe.weights.GgufFile.open(dir, arena));
            }
        }
        return ConfigReader.read(dir);
    }

    /** Qwen-MoE convention: dense MLP in mlp_only_layers, else MoE every decoder_sparse_step layers. */
    public boolean isMoeLayer(int layer) {
        if (deepseek != null) return deepseek.isMoeLayer(layer);
        if (mlpOnlyLayers.contains(layer)) return false;
        return numExperts > 0 && (layer + 1) % decoderSparseStep == 0;
    }

    /** The same config with another torch dtype (see {@link Models#load(java.nio.file.Path, String)}). */
    public ModelConfig withDtype(String dtype) {
        return new ModelConfig(modelType, vocabSize, hiddenSize, numHiddenLayers,
                numAttentionHeads, numKeyValueHeads, headDim,
                intermediateSize, moeIntermediateSize, numExperts, topK,
                normTopkProb, sharedExpertIntermediateSize,
                decoderSparseStep, mlpOnlyLayers,
                rmsNormEps, rope, maxPositionEmbeddings,
                attentionBias, tieWordEmbeddings,
                bosTokenId, eosTokenIds, padTokenId,
                deepseek, dtype);
    }
}
