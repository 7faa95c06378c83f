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

    /**
     * The step, on the session's {@link Scratch} buffers:
     * <ol>
     *   <li>q, k, v projections as one parallel phase ({@link MatMul#matmul(float[], int, Matrix[], float[][], float[][])});</li>
     *   <li>q/k RMSNorm (OLMoE over the whole projection, Qwen3 per head);</li>
     *   <li>RoPE: the step's cos/sin tables are computed by its first layer and reused by the others;</li>
     *   <li>this step's keys and values appended to the cache;</li>
     *   <li>every (token, head) attends over its sequence's cached positions, one phase split
     *       into contiguous chunks of (token, head) jobs, each chunk with its own scores row;</li>
     *   <li>o projection.</li>
     * </ol>
     */
    @Override
    public void forward(float[] x, Step step, Object cacheObject, float[] out) {
        KvCache cache = (KvCache) cacheObject;
        Batch batch = step.batch();
        Scratch scratch = step.scratch();
        int t = batch.tokens(), d = headDim, nq = heads * d, nkv = kvHeads * d;
        float[] qs = scratch.get(Scratch.Buffer.QUERIES, t * nq);
        float[] ks = scratch.get(Scratch.Buffer.KEYS, t * nkv), vs = scratch.get(Scratch.Buffer.VALUES, t * nkv);
        MatMul.matmul(x, t, new Matrix[] {q, k, v}, new float[][] {qBias, kBias, vBias}, new float[][] {qs, ks, vs});
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
        float[] cos = scratch.get(Scratch.Buffer.ROPE_COS, t * half), sin = scratch.get(Scratch.Buffer.ROPE_SIN, t * half);
        if (!scratch.ropeReady(rope)) rope.tables(batch, cos, sin);
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
        float[] att = scratch.get(Scratch.Buffer.ATTENTION, t * nq);
        int group = heads / kvHeads, jobs = t * heads, maxLen = CachedAttention.maxLength(batch);
        Parallel team = Parallel.current();
        int chunks = team.tasks(2L * jobs * maxLen * d, jobs);
        float[] scores = scratch.get(Scratch.Buffer.SCORES, chunks * maxLen);
        team.forEach(chunks, c -> {
            int from = (int) ((long) jobs * c / chunks), to = (int) ((long) jobs * (c + 1) / chunks);
            for (int job = from; job < to; job++) {
                int i = job / heads, hd = job % heads;
                int b = batch.sequenceOf()[i], len = batch.position()[i] + 1;
                int qo = i * nq + hd * d, ko = (hd / group) * d;
                java.util.Arrays.fill(att, qo, qo + d, 0f);
                CachedAttention.head(qs, qo, cache.keys(b), ko, nkv, d, cache.values(b), ko, nkv, d,
                        len, scale, scores, c * maxLen, att, qo);
            }
        });
        MatMul.matmul(att, t, o, out);
    }

}
