package capmoe.model;

import capmoe.model.deepseek.DeepseekV2;
import capmoe.model.deepseek.DeepseekV3;
import capmoe.model.mixtral.Mixtral;
import capmoe.model.olmoe.Olmoe;
import capmoe.model.qwen2moe.Qwen2Moe;
import capmoe.model.qwen3moe.Qwen3Moe;
import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.GgufFile;
import capmoe.weights.LoadOptions;

import java.lang.foreign.Arena;
import java.nio.file.Files;

import java.nio.file.Path;
import java.util.Map;

/**
 * Loads an unmodified Hugging Face checkpoint directory, dispatching on config.json's model_type,
 * or a GGUF file (llama.cpp's format, see {@link GgufModel}).
 */
public final class Models {
    private Models() { }

    /** Builds a model from its config and mapped weights. */
    @FunctionalInterface
    public interface Architecture {
        CausalLM build(ModelConfig config, Checkpoint weights);
    }

    /** model_type -> architecture. One line per architecture. */
    private static final Map<String, Architecture> ARCHITECTURES = Map.of(
            "olmoe", Olmoe::build,
            "mixtral", Mixtral::build,
            "qwen2_moe", Qwen2Moe::build,
            "qwen3_moe", Qwen3Moe::build,
            "deepseek_v2", DeepseekV2::build,
            "deepseek_v3", DeepseekV3::build);

    public static CausalLM load(Path dir) {
        return load(dir, null, LoadOptions.DEFAULT);
    }

    /**
     * Loads as if transformers had loaded the checkpoint with another {@code torch_dtype}
     * ("float32" or "bfloat16"; null keeps config.json's). Compute is fp32 either way; what changes
     * is transformers' bf16 rounding of RoPE's inv_freq, which a reference computed from an fp32
     * load (olmoe-tiny's) does not have.
     */
    public static CausalLM load(Path dir, String torchDtype) {
        return load(dir, torchDtype, LoadOptions.DEFAULT);
    }

    /**
     * {@link #load(Path, String)}, with the weight matrices quantized at load to {@code quantize}
     * (Q8_0 or Q4_0, see {@link Checkpoint#quantizes}); null keeps the stored dtypes.
     */
    public static CausalLM load(Path dir, String torchDtype, DType quantize) {
        return load(dir, torchDtype, LoadOptions.quantized(quantize));
    }

    /**
     * {@link #load(Path, String)}, with the weight matrices loaded as {@code options} says:
     * quantized ({@link Checkpoint#quantizes}) and multiplied in its {@link capmoe.kernels.DotMode}.
     */
    public static CausalLM load(Path dir, String torchDtype, LoadOptions options) {
        if (torchDtype != null && !torchDtype.equals("float32") && !torchDtype.equals("bfloat16")) {
            throw new IllegalArgumentException("--dtype must be float32 or bfloat16, got '" + torchDtype + "'");
        }
        ModelConfig config = ModelConfig.read(dir);   // config.json's errors come before the weights'
        if (torchDtype != null) config = config.withDtype(torchDtype);
        Architecture arch = ARCHITECTURES.get(config.modelType());
        if (arch == null) {
            throw new IllegalArgumentException("model_type " + config.modelType() + " (" + dir + ") is not yet supported by the engine");
        }
        Checkpoint weights = checkpoint(dir, options);
        try {
            return arch.build(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * The weights of a checkpoint directory, or of a GGUF file under HF names ({@link GgufModel}:
     * mapped, metadata read as the config, tensors renamed, Mixtral's q/k rows un-permuted).
     * {@code quantize} as in {@link Checkpoint#open(Path, LoadOptions)}.
     */
    public static Checkpoint checkpoint(Path path, DType quantize) {
        return checkpoint(path, LoadOptions.quantized(quantize));
    }

    /** {@link #checkpoint(Path, DType)} with {@code options} ({@link Checkpoint#open(Path, LoadOptions)}). */
    public static Checkpoint checkpoint(Path path, LoadOptions options) {
        if (!Files.isRegularFile(path)) return Checkpoint.open(path, options);
        Arena arena = Arena.ofShared();
        try {
            GgufFile f = GgufFile.open(path, arena);
            return Checkpoint.of(path, arena, GgufModel.tensors(f, GgufModel.config(f), arena), options, f);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }
}
