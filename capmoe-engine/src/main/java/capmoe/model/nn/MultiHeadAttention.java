package capmoe.model.nn;

import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.kernels.RmsNorm;
import capmoe.kernels.Rope;
import capmoe.model.ModelConfig;
import capmoe.weights.Checkpoint;

/**
 * Grouped-query attention with rotate-half RoPE, as in OLMoE, Mixtral, Qwen2-MoE and Qwen3-MoE.
 * The variants differ only in {@link QkNorm} and the q/k/v bias. Scores, softmax and the weighted
 * sum are fp32, scale 1/sqrt(head_dim), causal within each sequence.
 */
public final class MultiHeadAttention implements Attention {

    /** Where RMSNorm is applied to queries and keys, before RoPE. */
    public enum QkNorm {
        NONE,
        /** OLMoE: over the whole q (heads*head_dim) and k (kv_heads*head_dim) projection. */
        FULL,
        /** Qwen3-MoE: per head, over head_dim. */
        PER_HEAD
    }

    private final int heads, kvHeads, headDim;
    private final Matrix q, k, v, o;
    private final float[] qBias, kBias, vBias;
    private final QkNorm qkNorm;
    private final float[] qNorm, kNorm;
    private final double eps;
    private final RotaryEmbedding rope;
    private final float scale;

    public MultiHeadAttention(int heads, int kvHeads, int headDim, Matrix q, Matrix k, Matrix v, Matrix o,
                              float[] qBias, float[] kBias, float[] vBias,
                              QkNorm qkNorm, float[] qNorm, float[] kNorm, double eps, RotaryEmbedding rope) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.qBias = qBias;
        this.kBias = kBias;
        this.vBias = vBias;
        this.qkNorm = qkNorm;
        this.qNorm = qNorm;
        this.kNorm = kNorm;
        this.eps = eps;
        this.rope = rope;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
    }

    /**
     * Loads {@code prefix + q_proj/k_proj/v_proj/o_proj} (and {@code .bias} when {@code bias},
     * {@code q_norm/k_norm} unless NONE), checking every shape against the config.
     */
    public static MultiHeadAttention load(Checkpoint w, String prefix, ModelConfig c, QkNorm qkNorm, boolean bias) {
        int h = c.hiddenSize(), d = c.headDim(), nq = c.numAttentionHeads() * d, nkv = c.numKeyValueHeads() * d;
        String why = "hidden_size=" + h + ", num_attention_heads=" + c.numAttentionHeads()
                + ", num_key_value_heads=" + c.numKeyValueHeads() + ", head_dim=" + d;
        float[] qb = bias ? w.vector(prefix + "q_proj.bias", nq, why) : null;
        float[] kb = bias ? w.vector(prefix + "k_proj.bias", nkv, why) : null;
        float[] vb = bias ? w.vector(prefix + "v_proj.bias", nkv, why) : null;
        float[] qn = null, kn = null;
        if (qkNorm == QkNorm.FULL) {
            qn = w.vector(prefix + "q_norm.weight", nq, why);
            kn = w.vector(prefix + "k_norm.weight", nkv, why);
        } else if (qkNorm == QkNorm.PER_HEAD) {
            qn = w.vector(prefix + "q_norm.weight", d, why);
            kn = w.vector(prefix + "k_norm.weight", d, why);
        }
        return new MultiHeadAttention(c.numAttentionHeads(), c.numKeyValueHeads(), d,
                w.matrix(prefix + "q_proj.weight", nq, h, why),
                w.matrix(prefix + "k_proj.weight", nkv, h, why),
                w.matrix(prefix + "v_proj.weight", nkv, h, why),
                w.matrix(prefix + "o_proj.weight", h, nq, why),
                qb, kb, vb, qkNorm, qn, kn, c.rmsNormEps(), RotaryEmbedding.forModel(c, d));
    }

    @Override
    public Object newCache(int batch) {
        return new KvCache(batch, kvHeads * headDim, kvHeads * headDim);
    }

    @Override
    public void forward(float[] x, Step step, Object cacheObject, float[] out) {
        KvCache cache = (KvCache) cacheObject;
        Batch batch = step.batch();
        int t = batch.tokens(), d = headDim, nq = heads * d, nkv = kvHeads * d;
        float[] qs = new float[t * nq], ks = new float[t * nkv], vs = new float[t * nkv];
        MatMul.matmul(x, t, q, qBias, qs);
        MatMul.matmul(x, t, k, kBias, ks);
        MatMul.matmul(x, t, v, vBias, vs);
        switch (qkNorm) {
            case FULL -> {
                RmsNorm.apply(qs, qNorm, eps, t, qs);
                RmsNorm.apply(ks, kNorm, eps, t, ks);
            }
            case PER_HEAD -> {
                RmsNorm.apply(qs, qNorm, eps, t * heads, qs);
                RmsNorm.apply(ks, kNorm, eps, t * kvHeads, ks);
            }
            case NONE -> { }
        }
        int half = rope.half();
        float[] cos = new float[t * half], sin = new float[t * half];
        rope.tables(batch, cos, sin);
        for (int i = 0; i < t; i++) {
            for (int hd = 0; hd < heads; hd++) Rope.rotateHalf(qs, i * nq + hd * d, d, cos, sin, i * half);
            for (int hd = 0; hd < kvHeads; hd++) Rope.rotateHalf(ks, i * nkv + hd * d, d, cos, sin, i * half);
        }
        for (int b = 0; b < batch.sequences(); b++) {
            int n = batch.start()[b + 1] - batch.start()[b];
            cache.ensure(b, batch.past()[b] + n);
            System.arraycopy(ks, batch.start()[b] * nkv, cache.keys(b), batch.past()[b] * nkv, n * nkv);
            System.arraycopy(vs, batch.start()[b] * nkv, cache.values(b), batch.past()[b] * nkv, n * nkv);
        }
        float[] att = new float[t * nq];
        int group = heads / kvHeads;
        Parallel.current().forRange(t * heads, 1, (from, to) -> {
            float[] scores = new float[CachedAttention.maxLength(batch)];
            for (int job = from; job < to; job++) {
                int i = job / heads, hd = job % heads;
                int b = batch.sequenceOf()[i], len = batch.position()[i] + 1;
                int qo = i * nq + hd * d, ko = (hd / group) * d;
                CachedAttention.head(qs, qo, cache.keys(b), ko, nkv, d, cache.values(b), ko, nkv, d,
                        len, scale, scores, att, qo);
            }
        });
        MatMul.matmul(att, t, o, out);
    }

}
