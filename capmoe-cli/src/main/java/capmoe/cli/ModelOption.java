package capmoe.cli;

import capmoe.kernels.DotMode;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared {@code --model DIR} option: a Hugging Face checkpoint directory (config.json + safetensors),
 * or a GGUF file (llama.cpp's format, see {@link capmoe.model.GgufModel}); with {@code --quantize}, the
 * weight matrices are quantized at load into llama.cpp's block formats (see
 * {@link capmoe.weights.Checkpoint#quantizes}), else the stored dtypes are used; {@code --dot} picks
 * the arithmetic of the matmuls ({@link DotMode}). Every command that takes a model takes all three.
 */
final class ModelOption {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face checkpoint directory (config.json and safetensors) or GGUF file")
    Path model;

    @Option(names = "--quantize", paramLabel = "q8_0|q4_0",
            description = "quantize the weight matrices at load to Q8_0 or Q4_0 blocks as llama.cpp stores them (routers stay as stored)")
    String quantize;

    @Option(names = "--dot", paramLabel = "exact|reduced", defaultValue = "exact",
            description = "arithmetic of the matmuls: exact (default: weights widened to fp32, fp32 FMA, matches PyTorch) or reduced "
                    + "(llama.cpp's: activations rounded to bf16 for BF16 weights, to Q8_0 for Q8_0/Q4_0 weights; native kernels)")
    String dot;

    /** The directory; a user error naming the option when it was not given or is not a directory. */
    Path require() {
        if (model == null) throw new IllegalArgumentException("--model DIR is required (a Hugging Face checkpoint directory or a GGUF file)");
        return existing(model);
    }

    /** The given directory, else {@code fallback}. */
    Path orElse(Path fallback) {
        return model == null ? fallback : existing(model);
    }

    boolean given() { return model != null; }

    /** The --quantize format, or null; a clear error for an unknown name. */
    DType quantize() {
        return quantize == null ? null : DType.quantizeOption(quantize);
    }

    /** The --dot mode; a clear error naming the option for an unknown value. */
    DotMode dot() {
        return dot == null ? DotMode.EXACT : DotMode.option(dot);
    }

    /** How the weight matrices are loaded: --quantize and --dot. */
    LoadOptions weights() {
        return new LoadOptions(quantize(), dot());
    }

    private static Path existing(Path dir) {
        if (!Files.isDirectory(dir) && !Files.isRegularFile(dir)) {
            throw new IllegalArgumentException("--model " + dir + " is neither a directory nor a (GGUF) file");
        }
        return dir;
    }
}
