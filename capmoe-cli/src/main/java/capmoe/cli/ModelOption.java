package capmoe.cli;

import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared {@code --model DIR} option: a Hugging Face checkpoint directory (config.json + safetensors),
 * or a GGUF file (llama.cpp's format, see {@link capmoe.model.GgufModel}).
 */
final class ModelOption {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face checkpoint directory (config.json, *.safetensors) or GGUF file")
    Path model;

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

    private static Path existing(Path dir) {
        if (!Files.isDirectory(dir) && !Files.isRegularFile(dir)) {
            throw new IllegalArgumentException("--model " + dir + " is neither a directory nor a (GGUF) file");
        }
        return dir;
    }
}
