package capmoe.model.deepseek;

import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.kernels.RmsNorm;
import capmoe.kernels.Rope;
import capmoe.model.DeepSeekConfig;
import capmoe.model.ModelConfig;
import capmoe.model.nn.Attention;
import capmoe.model.nn.Batch;
import capmoe.model.nn.CachedAttention;
import capmoe.model.nn.KvCache;
import capmoe.model.nn.RotaryEmbedding;
import capmoe.model.nn.Scratch;
import capmoe.model.nn.Step;
import capmoe.weights.Checkpoint;

/**
 * DeepSeek's multi-head latent attention (MLA), as HF transformers 5 computes it (eager, fp32).
 *
 * <pre>
 * q                = q_proj(x)                                   (q_lora_rank null, V2-Lite)
 *                  | q_b_proj(q_a_layernorm(q_a_proj(x)))        (q_lora_rank set)
 * per head q       = [q_nope (qk_nope_head_dim) | q_pe (qk_rope_head_dim)]
 * [c_kv | k_pe]    = kv_a_proj_with_mqa(x)                       (kv_lora_rank + qk_rope_head_dim)
 * per head [k_nope | v] = kv_b_proj(kv_a_layernorm(c_kv))        (qk_nope_head_dim + v_head_dim)
 * key of head h    = [k_nope_h | rope(k_pe)]                     (one k_pe shared by all heads)
 * out              = o_proj(softmax(q.k * scale, causal) . v)
 * </pre>
 *
 * RoPE touches only q_pe and k_pe. DeepSeek checkpoints store those dims as adjacent pairs
 * (x0,x1),(x2,x3),..: V2 rotates each pair as a complex number, V3 with {@code rope_interleave}
 * first permutes pairs into halves and rotates half. Both give the same rotated values, only in a
 * different order, and a permutation applied to both q and k leaves every q.k unchanged, so one
 * code path (de-interleave, then rotate half) serves both. Without interleave (a V3 checkpoint with
 * {@code rope_interleave=false}) the dims are rotated half directly.
 *
 * <p>The cache holds the expanded per-head keys and values, as HF's DynamicCache does: the
 * latent-only cache of the paper is a memory optimisation that changes nothing in the numbers.
 */
public final class LatentAttention implements Attention {
    private final int heads, nope, ropeDim, vDim, kvLoraRank;
    private final Matrix qProj;                 // null when q_lora_rank is set
    private final Matrix qA, qB;                // null when q_lora_rank is null
    private final float[] qANorm, qABias;
    private final Matrix kvA, kvB, o;
    private final float[] kvANorm, kvABias, oBias;
    private final double eps;
    private final RotaryEmbedding rope;
    private final boolean interleaved;
    private final float scale;

    private LatentAttention(int heads, int nope, int ropeDim, int vDim, int kvLoraRank,
                            Matrix qProj, Matrix qA, float[] qABias, float[] qANorm, Matrix qB,
                            Matrix kvA, float[] kvABias, float[] kvANorm, Matrix kvB, Matrix o, float[] oBias,
                            double eps, RotaryEmbedding rope, boolean interleaved, double scale) {
        this.heads = heads;
        this.nope = nope;
        this.ropeDim = ropeDim;
        this.vDim = vDim;
        this.kvLoraRank = kvLoraRank;
        this.qProj = qProj;
        this.qA = qA;
        this.qABias = qABias;
        this.qANorm = qANorm;
        this.qB = qB;
        this.kvA = kvA;
        this.kvABias = kvABias;
        this.kvANorm = kvANorm;
        this.kvB = kvB;
        this.o = o;
        this.oBias = oBias;
        this.eps = eps;
        this.rope = rope;
        this.interleaved = interleaved;
        this.scale = (float) scale;
    }

    /**
     * Loads {@code prefix + q_proj | q_a_proj, q_a_layernorm, q_b_proj; kv_a_proj_with_mqa,
     * kv_a_layernorm, kv_b_proj, o_proj}, checking every shape against the config keys it follows from.
     *
     * @param interleaved q_pe/k_pe stored as adjacent pairs (V2 always; V3 when rope_interleave)
     * @param scale       the softmax scale (qk_head_dim^-0.5, possibly yarn-adjusted by the caller)
     */
    public static LatentAttention load(Checkpoint w, String prefix, ModelConfig c, boolean interleaved, double scale) {
        DeepSeekConfig d = c.deepseek();
        int h = c.hiddenSize(), n = c.numAttentionHeads();
        int qkHead = d.qkNopeHeadDim() + d.qkRopeHeadDim();
        String why = "hidden_size=" + h + ", num_attention_heads=" + n + ", q_lora_rank=" + (d.qLoraRank() == 0 ? "null" : d.qLoraRank())
                + ", kv_lora_rank=" + d.kvLoraRank() + ", qk_nope_head_dim=" + d.qkNopeHeadDim()
                + ", qk_rope_head_dim=" + d.qkRopeHeadDim() + ", v_head_dim=" + d.vHeadDim();
        if (d.qkRopeHeadDim() % 2 != 0) {
            throw new IllegalArgumentException("qk_rope_head_dim=" + d.qkRopeHeadDim() + " must be even (RoPE rotates pairs of dims)");
        }
        // q_proj next to q_lora_rank set (or q_a_proj next to q_lora_rank null): the config contradicts the checkpoint
        if (d.qLoraRank() == 0 && !w.has(prefix + "q_proj.weight") && w.has(prefix + "q_a_proj.weight")) {
            throw new IllegalArgumentException("config says q_lora_rank=null (plain q_proj) but the checkpoint in " + w.dir()
                    + " has tensor " + prefix + "q_a_proj.weight and no q_proj: set q_lora_rank to q_a_proj's first dimension");
        }
        if (d.qLoraRank() > 0 && !w.has(prefix + "q_a_proj.weight") && w.has(prefix + "q_proj.weight")) {
            throw new IllegalArgumentException("config says q_lora_rank=" + d.qLoraRank() + " (q_a_proj -> q_b_proj) but the checkpoint in "
                    + w.dir() + " has tensor " + prefix + "q_proj.weight and no q_a_proj: set q_lora_rank to null");
        }
        boolean bias = c.attentionBias();
        Matrix qProj = null, qA = null, qB = null;
        float[] qABias = null, qANorm = null;
        if (d.qLoraRank() == 0) {
            qProj = w.matrix(prefix + "q_proj.weight", n * qkHead, h, why);
        } else {
            qA = w.matrix(prefix + "q_a_proj.weight", d.qLoraRank(), h, why);
            qABias = bias ? w.vector(prefix + "q_a_proj.bias", d.qLoraRank(), why) : null;
            qANorm = w.vector(prefix + "q_a_layernorm.weight", d.qLoraRank(), why);
            qB = w.matrix(prefix + "q_b_proj.weight", n * qkHead, d.qLoraRank(), why);
        }
        int kvAWidth = d.kvLoraRank() + d.qkRopeHeadDim();
        Matrix kvA = w.matrix(prefix + "kv_a_proj_with_mqa.weight", kvAWidth, h, why);
        float[] kvABias = bias ? w.vector(prefix + "kv_a_proj_with_mqa.bias", kvAWidth, why) : null;
        float[] kvANorm = w.vector(prefix + "kv_a_layernorm.weight", d.kvLoraRank(), why);
        Matrix kvB = w.matrix(prefix + "kv_b_proj.weight", n * (d.qkNopeHeadDim() + d.vHeadDim()), d.kvLoraRank(), why);
        Matrix o = w.matrix(prefix + "o_proj.weight", h, n * d.vHeadDim(), why);
        float[] oBias = bias ? w.vector(prefix + "o_proj.bias", h, why) : null;
        return new LatentAttention(n, d.qkNopeHeadDim(), d.qkRopeHeadDim(), d.vHeadDim(), d.kvLoraRank(),
                qProj, qA, qABias, qANorm, qB, kvA, kvABias, kvANorm, kvB, o, oBias,
                c.rmsNormEps(), RotaryEmbedding.forModel(c, d.qkRopeHeadDim()), interleaved, scale);
    }

    private int qkHead() { return nope + ropeDim; }

    @Override
    public Object newCache(int batch) {
        return new KvCache(batch, heads, qkHead(), vDim);
    }

    @Override
    public void forward(float[] x, Step step, Object cacheObject, float[] out) {
        KvCache cache = (KvCache) cacheObject;
        Batch batch = step.batch();
        int t = batch.tokens(), qk = qkHead(), nq = heads * qk, nv = heads * vDim;

        Scratch scratch = step.scratch();
        float[] qs = scratch.get(Scratch.Buffer.QUERIES, t * nq);
        if (qProj != null) {
            MatMul.matmul(x, t, qProj, qs);
        } else {
            float[] qa = scratch.get(Scratch.Buffer.MLA_Q_LATENT, t * qA.rows());
            MatMul.matmul(x, t, qA, qABias, qa);
            RmsNorm.apply(qa, qANorm, eps, t, qa);
            MatMul.matmul(qa, t, qB, qs);
        }

        int kvAWidth = kvLoraRank + ropeDim;
        float[] kva = scratch.get(Scratch.Buffer.MLA_KV_A, t * kvAWidth);
        MatMul.matmul(x, t, kvA, kvABias, kva);
        float[] latent = scratch.get(Scratch.Buffer.MLA_KV_LATENT, t * kvLoraRank);
        for (int i = 0; i < t; i++) {
            RmsNorm.apply(kva, i * kvAWidth, kvANorm, eps, latent, i * kvLoraRank, kvLoraRank);
        }
        int kvbWidth = heads * (nope + vDim);
        float[] kvb = scratch.get(Scratch.Buffer.MLA_KV_B, t * kvbWidth);
        MatMul.matmul(latent, t, kvB, kvb);

        int half = rope.half();
        float[] cos = scratch.get(Scratch.Buffer.ROPE_COS, t * half), sin = scratch.get(Scratch.Buffer.ROPE_SIN, t * half);
        if (!scratch.ropeReady(rope)) rope.tables(batch, cos, sin);
        for (int b = 0; b < batch.sequences(); b++) cache.ensure(b, batch.past()[b] + batch.start()[b + 1] - batch.start()[b]);
        // RoPE and the cache writes: one phase over the tokens, each chunk with its own de-interleaving row
        Parallel team = Parallel.current();
        int chunks = team.tasks((long) t * heads * (qk + vDim) * 4, t);
        float[] perm = scratch.get(Scratch.Buffer.MLA_ROPE_PERM, chunks * ropeDim);
        team.forEach(chunks, c -> {
            for (int i = (int) ((long) t * c / chunks), end = (int) ((long) t * (c + 1) / chunks); i < end; i++) {
                int kpe = i * kvAWidth + kvLoraRank, b = batch.sequenceOf()[i], p = batch.position()[i];
                rotate(kva, kpe, cos, sin, i * half, perm, c * ropeDim);
                for (int hd = 0; hd < heads; hd++) {
                    rotate(qs, i * nq + hd * qk + nope, cos, sin, i * half, perm, c * ropeDim);
                    int src = i * kvbWidth + hd * (nope + vDim);
                    cache.putKey(b, p, hd, 0, nope, kvb, src);
                    cache.putKey(b, p, hd, nope, ropeDim, kva, kpe);
                    cache.putValue(b, p, hd, kvb, src + nope);
                }
            }
        });

        float[] att = scratch.get(Scratch.Buffer.ATTENTION, t * nv);
        CachedAttention.attend(batch, cache, qs, nq, heads, scale, att, nv, scratch);
        MatMul.matmul(att, t, o, oBias, out);
    }

    private void rotate(float[] v, int off, float[] cos, float[] sin, int csOff, float[] perm, int permOff) {
        if (interleaved) Rope.deinterleave(v, off, ropeDim, perm, permOff);
        Rope.rotateHalf(v, off, ropeDim, cos, sin, csOff);
    }
}
