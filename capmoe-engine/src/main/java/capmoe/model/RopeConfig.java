package capmoe.model;

/**
 * Rotary embedding parameters, from either {@code rope_parameters} (transformers 5) or
 * {@code rope_theta} + {@code rope_scaling} (hub configs). Types: {@code default} and {@code yarn}.
 * Yarn fields are NaN / 0 when absent, exactly as HF treats missing keys.
 */
public record RopeConfig(String type, double theta, double factor, int originalMaxPositionEmbeddings,
                         double betaFast, double betaSlow, double mscale, double mscaleAllDim,
                         double attentionFactor, boolean truncate, int maxPositionEmbeddings) {

    public static RopeConfig defaults(double theta, int maxPositionEmbeddings) {
        return new RopeConfig("default", theta, 1.0, 0, 32, 1, 0, 0, Double.NaN, true, maxPositionEmbeddings);
    }

    public boolean isYarn() { return type.equals("yarn"); }

    /**
     * inv_freq for {@code dim} rotary dims (dim/2 values), in fp32 as HF computes it:
     * base ** (arange(0, dim, 2) / dim), inverted; yarn blends interpolated and extrapolated
     * frequencies with a linear ramp between the beta_fast/beta_slow correction dims.
     */
    public float[] invFreq(int dim) {
        int half = dim / 2;
        float[] posFreqs = new float[half];
        for (int i = 0; i < half; i++) posFreqs[i] = (float) Math.pow(theta, (float) (2 * i) / (float) dim);
        float[] inv = new float[half];
        if (!isYarn()) {
            for (int i = 0; i < half; i++) inv[i] = 1f / posFreqs[i];
            return inv;
        }
        double f = yarnFactor();
        int original = yarnOriginalMax();
        double low = correctionDim(betaFast, dim, original), high = correctionDim(betaSlow, dim, original);
        if (truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low == high) high += 0.001;
        for (int i = 0; i < half; i++) {
            float ramp = (float) ((i - low) / (high - low));
            ramp = Math.min(1f, Math.max(0f, ramp));
            float extrapolationFactor = 1f - ramp;
            float extrapolation = 1f / posFreqs[i];
            float interpolation = 1f / ((float) f * posFreqs[i]);
            inv[i] = interpolation * (1f - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
        return inv;
    }

    /** The factor cos/sin are multiplied by (HF "attention_factor"/"attention_scaling"); 1 for default RoPE. */
    public double attentionScaling() {
        if (!isYarn()) return 1.0;
        if (!Double.isNaN(attentionFactor)) return attentionFactor;
        double f = yarnFactor();
        if (mscale != 0 && mscaleAllDim != 0) return yarnGetMscale(f, mscale) / yarnGetMscale(f, mscaleAllDim);
        return yarnGetMscale(f, 1.0);
    }

    /**
     * HF (DeepSeek-V3 convention): when original_max_position_embeddings is given the effective
     * factor is max_position_embeddings / original_max_position_embeddings.
     */
    public double yarnFactor() {
        return originalMaxPositionEmbeddings > 0 ? (double) maxPositionEmbeddings / originalMaxPositionEmbeddings : factor;
    }

    private int yarnOriginalMax() {
        return originalMaxPositionEmbeddings > 0 ? originalMaxPositionEmbeddings : maxPositionEmbeddings;
    }

    private double correctionDim(double rotations, int dim, int maxPos) {
        return (dim * Math.log(maxPos / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
    }

    /** DeepSeek's yarn_get_mscale: 0.1 * m * ln(scale) + 1 for scale > 1, else 1. */
    public static double yarnGetMscale(double scale, double m) {
        return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
    }
}
