package capmoe.model.nn;

/** Pre-norm residual layer: x += attn(norm1(x)); x += ffn(norm2(x)). Same in every supported model. */
public record DecoderLayer(float[] inputNorm, Attention attention, float[] postAttentionNorm, FeedForward ffn) { }
