package capmoe.eval;

import capmoe.weights.LoadOptions;
import capmoe.model.CausalLM;
import capmoe.model.Models;

import java.nio.file.Path;

/**
 * The eval's model loading: {@code --dtype} picks the torch dtype a reference was computed with
 * (olmoe-tiny's PyTorch references loaded the model in float32), see {@link Models#load(Path, String)}.
 */
public final class ModelLoader {
    private ModelLoader() { }

    /** {@code dtype} null: exactly {@link Models#load(Path)}; else "float32" or "bfloat16". */
    public static CausalLM load(Path dir, String dtype) {
        return Models.load(dir, dtype);
    }

    /** {@link #load(Path, String)} with the weight matrices loaded as {@code weights} says ({@code --quantize}, {@code --dot}). */
    public static CausalLM load(Path dir, String dtype, LoadOptions weights) {
        return Models.load(dir, dtype, weights);
    }
}
