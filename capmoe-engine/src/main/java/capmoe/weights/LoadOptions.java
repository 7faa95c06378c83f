package capmoe.weights;

import capmoe.kernels.DotMode;

import java.util.Objects;

/**
 * How a checkpoint's weight matrices are loaded: {@code --quantize} and {@code --dot}, the two
 * load-time properties of every {@link capmoe.kernels.Matrix}.
 *
 * @param quantize Q8_0 or Q4_0 to quantize the weight matrices at load ({@link Checkpoint#quantizes}), or null to keep the stored dtypes
 * @param dot      the arithmetic of the dot products with them ({@link DotMode})
 */
public record LoadOptions(DType quantize, DotMode dot) {

    /** The stored dtypes, exact numerics: what {@code capmoe} does without options. */
    public static final LoadOptions DEFAULT = new LoadOptions(null, DotMode.EXACT);

    public LoadOptions {
        if (quantize != null && !quantize.quantized()) throw new IllegalArgumentException(quantize + " is not a quantized format (q8_0, q4_0)");
        Objects.requireNonNull(dot, "dot");
    }

    /** The stored dtypes, or {@code quantize} (null: stored), with exact numerics. */
    public static LoadOptions quantized(DType quantize) {
        return new LoadOptions(quantize, DotMode.EXACT);
    }

    /** These options with the numerics {@code dot}. */
    public LoadOptions withDot(DotMode dot) {
        return new LoadOptions(quantize, dot);
    }
}
