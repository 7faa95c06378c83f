package capmoe.cli;

import capmoe.weights.DType;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared {@code --model DIR} option: a Hugging Face checkpoint directory (config.json + safetensors),
 * or a GGUF file (llama.cpp's format, see {@link capmoe.model.GgufModel}); with {@code --quantize}, the
 * weight matrices are quantized at load into llama.cpp's block formats (see
 * {@link capmoe.weights.Checkpoint#quantizes}), else the stored dtypes are used. Every command that
 * takes a model takes both.
 */
final class ModelOption {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face checkpoint directory (config.json and safetensors) or GGUF file")
    Path model;

    @Option(names = "--quantize", paramLabel = "q8_0|q4_0",
            description = "quantize the weight matrices at load to Q8_0 or Q4_0 blocks as llama.cpp stores them (routers stay as stored)")
    String quantize;

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

    private static Path existing(Path dir) {
        if (!Files.isDirectory(dir) && !Files.isRegularFile(dir)) {
            throw new IllegalArgumentException("--model " + dir + " is neither a directory nor a (GGUF) file");
        }
        return dir;
    }
}
