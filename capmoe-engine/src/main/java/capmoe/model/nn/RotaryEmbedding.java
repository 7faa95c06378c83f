package capmoe.model.nn;

import capmoe.kernels.Bf16;
import capmoe.kernels.DotMode;
import capmoe.kernels.GgmlOps;
import capmoe.model.ModelConfig;
import capmoe.model.RopeConfig;

/**
 * cos/sin tables per position for {@code dim} rotary dims, scaled by the rope's attention factor (yarn).
 * HF's frequencies (pos · inv_freq), or, for {@code --dot reduced} and the default rope, llama.cpp's
 * ({@link GgmlOps#ropeCache}: theta multiplied by powf(base, −2/dim) once per pair, libm's cosf/sinf),
 * to go with {@link GgmlOps#ropeNeox}: {@link #ggml}.
 */
public final class RotaryEmbedding {
    private final float[] invFreq;
    private final float scaling;
    /** llama.cpp's theta_scale when the tables are ggml's, else NaN. */
    private final float ggmlThetaScale;

    public RotaryEmbedding(RopeConfig rope, int dim, boolean bf16InvFreq) {
        this(rope, dim, bf16InvFreq, DotMode.EXACT);
    }

    /** As above, in the arithmetic of {@code dot} (REDUCED and the default rope: llama.cpp's tables, {@link #ggml}). */
    public RotaryEmbedding(RopeConfig rope, int dim, boolean bf16InvFreq, DotMode dot) {
        this.invFreq = rope.invFreq(dim);
        if (bf16InvFreq) for (int i = 0; i < invFreq.length; i++) invFreq[i] = Bf16.round(invFreq[i]);
        this.scaling = (float) rope.attentionScaling();
        boolean ggml = dot == DotMode.REDUCED && rope.type().equals("default") && scaling == 1f;
        this.ggmlThetaScale = ggml ? GgmlOps.ropeThetaScale((float) rope.theta(), dim) : Float.NaN;
    }

    /**
     * The model's rotary embedding as transformers computes it for a checkpoint stored in bf16: the
     * {@code inv_freq} buffer is cast with the model to bf16 at load, so even an fp32 run afterwards
     * uses bf16-rounded frequencies (the HF fixtures confirm it: with fp32 inv_freq, q/k-normed
     * models drift 3e-4 from the reference, growing with position; with rounded ones, 2e-7).
     */
    public static RotaryEmbedding forModel(ModelConfig c, int dim) {
        return new RotaryEmbedding(c.rope(), dim, c.dtype().equals("bfloat16"));
    }

    /**
     * {@link #forModel(ModelConfig, int)} in the arithmetic of {@code dot}: for REDUCED and the
     * default rope, llama.cpp's tables ({@link #ggml}); other ropes (yarn) keep HF's.
     */
    public static RotaryEmbedding forModel(ModelConfig c, int dim, DotMode dot) {
        return new RotaryEmbedding(c.rope(), dim, c.dtype().equals("bfloat16"), dot);
    }

    /** Whether the tables are llama.cpp's, to be applied with {@link GgmlOps#ropeNeox}. */
    public boolean ggml() { return !Float.isNaN(ggmlThetaScale); }

    public int half() { return invFreq.length; }

    /** Equal frequencies and scaling give equal tables: a step's layers share them ({@link Scratch#ropeReady}). */
    @Override
    public boolean equals(Object o) {
        return o instanceof RotaryEmbedding r && r.scaling == scaling && java.util.Arrays.equals(r.invFreq, invFreq)
                && Float.floatToIntBits(r.ggmlThetaScale) == Float.floatToIntBits(ggmlThetaScale);
    }

    @Override
    public int hashCode() {
        return 31 * java.util.Arrays.hashCode(invFreq) + Float.hashCode(scaling);
    }

    /** Fills cos/sin [tokens x dim/2] for the batch positions (fp32 like HF: freq = pos * inv_freq; or {@link #ggml}'s). */
    public void tables(Batch batch, float[] cos, float[] sin) {
        int h = invFreq.length;
        if (ggml()) {
            for (int t = 0; t < batch.tokens(); t++) GgmlOps.ropeCache(batch.position()[t], h, ggmlThetaScale, cos, sin, t * h);
            return;
        }
        for (int t = 0; t < batch.tokens(); t++) {
            float pos = batch.position()[t];
            for (int i = 0; i < h; i++) {
                float f = pos * invFreq[i];
                cos[t * h + i] = (float) Math.cos(f) * scaling;
                sin[t * h + i] = (float) Math.sin(f) * scaling;
            }
        }
    }
}
