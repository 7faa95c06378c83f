package capmoe.model.nn;

import java.util.Arrays;

/**
 * The activations of one forward step, as llama2.c's {@code RunState}: every buffer a step
 * writes, named with its shape, allocated once per session and grown when a step is larger, so
 * a decode step allocates nothing in proportion to the model. T = the step's tokens, H = hidden,
 * nq = heads x head_dim, nkv = kv_heads x head_dim, E = experts, P = kept (token, expert) pairs.
 *
 * <p>Layers run one after another and each buffer is consumed before the next layer writes it,
 * so every layer shares the same buffers. A session runs one step at a time; two sessions never
 * share a Scratch. A buffer's contents are undefined when it is handed out (callers overwrite).
 */
public final class Scratch {

    /** The buffers of a step, each with its shape and meaning. */
    public enum Buffer {
        /** [T x H] the residual stream. */
        HIDDEN,
        /** [T x H] RMSNorm of the residual stream (a block's input). */
        NORMED,
        /** [T x H] a block's output, before it is added to the residual stream. */
        BLOCK_OUT,
        /** [rows x H] the last position of each sequence (logits for the last token only). */
        LAST,
        /** [rows x vocab] the last positions' logits when several sequences share a step (one row goes straight to the caller's array). */
        LOGITS,
        /** [T x nq] queries, then rotated (RoPE). */
        QUERIES,
        /** [T x nkv] this step's keys, before they are appended to the cache. */
        KEYS,
        /** [T x nkv] this step's values. */
        VALUES,
        /** [T x nq] attention output per head, before o_proj. */
        ATTENTION,
        /** [T x head_dim/2] RoPE cos of each token's position (scaled), shared by the step's layers. */
        ROPE_COS,
        /** [T x head_dim/2] RoPE sin, likewise. */
        ROPE_SIN,
        /**
         * Attention's per-chunk tiles ({@link CachedAttention}): [chunks x (rows x BLOCK scores,
         * then rows running maxima, sums and rescale factors)], rows = a task's (token, head) rows.
         */
        SCORES,
        /** [T x E] router logits, exactly ({@link #exact}). */
        ROUTER_LOGITS,
        /** [T x H] the shared expert's output (Qwen2-MoE, DeepSeek). */
        SHARED_OUT,
        /** [T] the shared expert's gate logit (Qwen2-MoE). */
        SHARED_GATE,
        /** [T x q_lora_rank] DeepSeek MLA: q_a_proj(x), then its RMSNorm (when q_lora_rank is set). */
        MLA_Q_LATENT,
        /** [T x (kv_lora_rank + qk_rope_head_dim)] MLA: kv_a_proj_with_mqa(x) = [c_kv | k_pe], k_pe then rotated. */
        MLA_KV_A,
        /** [T x kv_lora_rank] MLA: kv_a_layernorm(c_kv). */
        MLA_KV_LATENT,
        /** [T x heads*(qk_nope_head_dim + v_head_dim)] MLA: kv_b_proj(latent) = per head [k_nope | v]. */
        MLA_KV_B,
        /** [chunks x qk_rope_head_dim] MLA: one de-interleaving row per RoPE work chunk. */
        MLA_ROPE_PERM
    }

    private final float[][] buffers = new float[Buffer.values().length][];
    private Object ropeOwner;                      // the rotary embedding ROPE_COS/SIN were computed for, this step

    /** Buffer {@code b} with room for at least {@code n} floats (its contents undefined). */
    public float[] get(Buffer b, int n) {
        float[] a = buffers[b.ordinal()];
        if (a == null || a.length < n) {
            a = new float[Math.max(n, a == null ? 0 : a.length + a.length / 2)];
            buffers[b.ordinal()] = a;
        }
        return a;
    }

    /**
     * Buffer {@code b} of exactly {@code n} floats (its contents undefined), for a consumer that
     * checks the length (the Router's logits): a new array only when n differs from the last
     * call's, so a decode loop's steps reuse one.
     */
    public float[] exact(Buffer b, int n) {
        float[] a = buffers[b.ordinal()];
        if (a == null || a.length != n) buffers[b.ordinal()] = a = new float[n];
        return a;
    }

    /** Starts a step: nothing computed in an earlier step is taken as this step's (the RoPE tables). */
    public void beginStep() {
        ropeOwner = null;
    }

    /**
     * Whether ROPE_COS/ROPE_SIN already hold this step's tables for a rotary embedding equal to
     * {@code rope}; if not, the caller fills them and they are then recorded as {@code rope}'s.
     * Every layer of a model has the same rotary embedding, so a step computes its cos/sin once.
     */
    public boolean ropeReady(Object rope) {
        if (rope.equals(ropeOwner)) return true;
        ropeOwner = rope;
        return false;
    }

    /** Total floats held (what a session keeps between steps). */
    public long floats() {
        return Arrays.stream(buffers).mapToLong(a -> a == null ? 0 : a.length).sum();
    }
}
