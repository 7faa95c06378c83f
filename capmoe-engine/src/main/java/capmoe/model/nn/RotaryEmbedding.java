package capmoe.model.nn;

import capmoe.model.RopeConfig;

/** cos/sin tables per position for {@code dim} rotary dims, scaled by the rope's attention factor (yarn). */
public final class RotaryEmbedding {
    private final float[] invFreq;
    private final float scaling;

    public RotaryEmbedding(RopeConfig rope, int dim) {
        this.invFreq = rope.invFreq(dim);
        this.scaling = (float) rope.attentionScaling();
    }

    public int half() { return invFreq.length; }

    /** Fills cos/sin [tokens x dim/2] for the batch positions (fp32 like HF: freq = pos * inv_freq). */
    public void tables(Batch batch, float[] cos, float[] sin) {
        int h = invFreq.length;
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
