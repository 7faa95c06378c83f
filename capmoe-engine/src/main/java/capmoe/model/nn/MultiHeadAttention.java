package capmoe.model.nn;

import capmoe.kernels.DotMode;
import capmoe.kernels.GgmlOps;
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
    private final Matrix[] qkv;                 // {q, k, v}: one parallel phase
    private final float[][] qkvBias;            // {qBias, kBias, vBias}, beside qkv
    /** Per thread: the q, k, v outputs of the running forward, {qs, ks, vs} (emptied after the matmul). */
    private static final ThreadLocal<float[][]> QKV_OUT = ThreadLocal.withInitial(() -> new float[3][]);
    private final float[] qBias, kBias, vBias;
    private final QkNorm qkNorm;
    private final float[] qNorm, kNorm;
    private final double eps;
    private final RotaryEmbedding rope;
    private final float scale;
    /** llama.cpp's arithmetic between the projections ({@code --dot reduced}): q/k norm, RoPE, attention. */
    private final DotMode dot;

    public MultiHeadAttention(int heads, int kvHeads, int headDim, Matrix q, Matrix k, Matrix v, Matrix o,
                              float[] qBias, float[] kBias, float[] vBias,
                              QkNorm qkNorm, float[] qNorm, float[] kNorm, double eps, RotaryEmbedding rope) {
        this(heads, kvHeads, headDim, q, k, v, o, qBias, kBias, vBias, qkNorm, qNorm, kNorm, eps, rope, DotMode.EXACT);
    }

    /**
     * As above; {@code dot} REDUCED computes the q/k RMSNorm, RoPE (with {@code rope}'s ggml tables)
     * and attention as llama.cpp does ({@link GgmlOps}, {@link GgmlAttention}), the score scale
     * 1.0f/sqrtf(head_dim) as llama.cpp's graph takes it.
     */
    public MultiHeadAttention(int heads, int kvHeads, int headDim, Matrix q, Matrix k, Matrix v, Matrix o,
                              float[] qBias, float[] kBias, float[] vBias,
                              QkNorm qkNorm, float[] qNorm, float[] kNorm, double eps, RotaryEmbedding rope, DotMode dot) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.qkv = new Matrix[] {q, k, v};
        this.qkvBias = new float[][] {qBias, kBias, vBias};
        this.qBias = qBias;
        this.kBias = kBias;
        this.vBias = vBias;
        this.qkNorm = qkNorm;
        this.qNorm = qNorm;
        this.kNorm = kNorm;
        this.eps = eps;
        this.rope = rope;
        this.dot = dot;
        this.scale = dot == DotMode.REDUCED ? 1.0f / (float) Math.sqrt(headDim) : (float) (1.0 / Math.sqrt(headDim));
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
                qb, kb, vb, qkNorm, qn, kn, c.rmsNormEps(), RotaryEmbedding.forModel(c, d, w.dot()), w.dot());
    }

    @Override
    public Object newCache(int batch) {
        return new KvCache(batch, kvHeads, headDim, headDim);
    }

    /**
     * The step, on the session's {@link Scratch} buffers:
     * <ol>
     *   <li>q, k, v projections as one parallel phase ({@link MatMul#matmul(float[], int, Matrix[], float[][], float[][])});</li>
     *   <li>one phase over the tokens: q/k RMSNorm (OLMoE over the whole projection, Qwen3 per
     *       head), RoPE (the step's cos/sin tables are computed by its first layer and reused by
     *       the others), and the token's keys and values written into the cache's per-head blocks;</li>
     *   <li>blocked causal attention with the softmax fused in ({@link CachedAttention#attend}); with
     *       {@code --dot reduced}, llama.cpp's kq, softmax and kqv instead ({@link GgmlAttention});</li>
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
        float[][] qkvOut = QKV_OUT.get();
        qkvOut[0] = qs;
        qkvOut[1] = ks;
        qkvOut[2] = vs;
        try {
            MatMul.matmul(x, t, qkv, qkvBias, qkvOut);
        } finally {
            java.util.Arrays.fill(qkvOut, null);
        }
        int half = rope.half();
        float[] cos = scratch.get(Scratch.Buffer.ROPE_COS, t * half), sin = scratch.get(Scratch.Buffer.ROPE_SIN, t * half);
        if (!scratch.ropeReady(rope)) rope.tables(batch, cos, sin);
        for (int b = 0; b < batch.sequences(); b++) cache.ensure(b, batch.past()[b] + batch.start()[b + 1] - batch.start()[b]);
        Parallel team = Parallel.current();
        if (t == 1) {
            prepare(batch, cache, 0, qs, ks, vs, cos, sin);   // a decode step: one token, no phase (and no lambda per call)
        } else {
            team.forRange(t, (int) Math.max(1, Parallel.MIN_TASK_WORK / (8L * (nq + nkv))), (from, to) -> {
                for (int i = from; i < to; i++) prepare(batch, cache, i, qs, ks, vs, cos, sin);
            });
        }
        float[] att = scratch.get(Scratch.Buffer.ATTENTION, t * nq);
        if (dot == DotMode.REDUCED) GgmlAttention.attend(batch, cache, qs, nq, heads, scale, att, nq);
        else CachedAttention.attend(batch, cache, qs, nq, heads, scale, att, nq, scratch);
        MatMul.matmul(att, t, o, out);
    }

    /** Token i's q/k norm and RoPE in place, and its keys and values into the cache. */
    private void prepare(Batch batch, KvCache cache, int i, float[] qs, float[] ks, float[] vs, float[] cos, float[] sin) {
        int d = headDim, nq = heads * d, nkv = kvHeads * d, half = rope.half();
        switch (qkNorm) {
            case FULL -> {
                RmsNorm.apply(qs, i * nq, qNorm, eps, qs, i * nq, nq, dot);
                RmsNorm.apply(ks, i * nkv, kNorm, eps, ks, i * nkv, nkv, dot);
            }
            case PER_HEAD -> {
                for (int hd = 0; hd < heads; hd++) RmsNorm.apply(qs, i * nq + hd * d, qNorm, eps, qs, i * nq + hd * d, d, dot);
                for (int hd = 0; hd < kvHeads; hd++) RmsNorm.apply(ks, i * nkv + hd * d, kNorm, eps, ks, i * nkv + hd * d, d, dot);
            }
            case NONE -> { }
        }
        boolean ggml = rope.ggml();
        for (int hd = 0; hd < heads; hd++) {
            if (ggml) GgmlOps.ropeNeox(qs, i * nq + hd * d, d, cos, sin, i * half);
            else Rope.rotateHalf(qs, i * nq + hd * d, d, cos, sin, i * half);
        }
        int b = batch.sequenceOf()[i], p = batch.position()[i];
        for (int hd = 0; hd < kvHeads; hd++) {
            if (ggml) GgmlOps.ropeNeox(ks, i * nkv + hd * d, d, cos, sin, i * half);
            else Rope.rotateHalf(ks, i * nkv + hd * d, d, cos, sin, i * half);
            cache.put(b, p, hd, ks, i * nkv + hd * d, vs, i * nkv + hd * d);
        }
    }

}
