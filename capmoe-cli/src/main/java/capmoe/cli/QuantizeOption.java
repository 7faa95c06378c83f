package capmoe.cli;

import capmoe.weights.DType;
import picocli.CommandLine.Option;

/**
 * {@code --quantize q8_0|q4_0}: the model-loading option of every command that loads a model
 * (a picocli mixin). The weight matrices are quantized at load into llama.cpp's block formats
 * (see {@link capmoe.weights.Checkpoint#quantizes}); without it the stored dtypes are used.
 */
public final class QuantizeOption {

    @Option(names = "--quantize", paramLabel = "q8_0|q4_0",
            description = "quantize the weight matrices at load to llama.cpp's Q8_0 or Q4_0 blocks (routers stay as stored)")
    String quantize;

    /** The chosen format, or null; a clear error for an unknown name. */
    public DType format() {
        return quantize == null ? null : DType.quantizeOption(quantize);
    }
}
