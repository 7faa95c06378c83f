package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.Models;
import capmoe.model.deepseek.DeepseekV2;
import capmoe.model.deepseek.DeepseekV3;
import capmoe.model.mixtral.Mixtral;
import capmoe.model.olmoe.Olmoe;
import capmoe.model.qwen2moe.Qwen2Moe;
import capmoe.model.qwen3moe.Qwen3Moe;
import capmoe.weights.Checkpoint;

import java.nio.file.Path;

/**
 * Loads a checkpoint as {@link Models#load} does, optionally as if transformers had loaded it with
 * another torch_dtype. That matters for reproducing a reference: for a bf16 checkpoint the engine
 * rounds RoPE's inv_freq to bf16 (what transformers does when the model is loaded in bf16), but a
 * reference computed with the model loaded in float32 (olmoe-tiny's) uses fp32 inv_freq, and the
 * logits then differ by ~5e-2 at position 28. Only ModelConfig.dtype changes; weights are
 * converted to fp32 for compute either way.
 */
public final class ModelLoader {
    private ModelLoader() { }

    /** {@code dtype} null: exactly {@link Models#load}; else "float32" or "bfloat16". */
    public static CausalLM load(Path dir, String dtype) {
        if (dtype == null) return Models.load(dir);
        if (!dtype.equals("float32") && !dtype.equals("bfloat16")) {
            throw new IllegalArgumentException("--dtype must be float32 or bfloat16, got '" + dtype + "'");
        }
        ModelConfig c = withDtype(ModelConfig.read(dir), dtype);
        Checkpoint weights = Checkpoint.open(dir);
        try {
            return switch (c.modelType()) {
                case "olmoe" -> Olmoe.build(c, weights);
                case "mixtral" -> Mixtral.build(c, weights);
                case "qwen2_moe" -> Qwen2Moe.build(c, weights);
                case "qwen3_moe" -> Qwen3Moe.build(c, weights);
                case "deepseek_v2" -> DeepseekV2.build(c, weights);
                case "deepseek_v3" -> DeepseekV3.build(c, weights);
                default -> throw new IllegalArgumentException("model_type " + c.modelType() + " (" + dir + ") is not supported");
            };
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    static ModelConfig withDtype(ModelConfig c, String dtype) {
        return new ModelConfig(c.modelType(), c.vocabSize(), c.hiddenSize(), c.numHiddenLayers(),
                c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(),
                c.intermediateSize(), c.moeIntermediateSize(), c.numExperts(), c.topK(),
                c.normTopkProb(), c.sharedExpertIntermediateSize(),
                c.decoderSparseStep(), c.mlpOnlyLayers(),
                c.rmsNormEps(), c.rope(), c.maxPositionEmbeddings(),
                c.attentionBias(), c.tieWordEmbeddings(),
                c.bosTokenId(), c.eosTokenIds(), c.padTokenId(),
                c.deepseek(), dtype);
    }
}
