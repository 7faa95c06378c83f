package capmoe.model.nn;

import capmoe.kernels.GgmlOps;
import capmoe.kernels.Parallel;
import capmoe.routing.GgmlMath;

/**
 * Causal attention in llama.cpp's CPU arithmetic without flash attention (the graph
 * {@code llm_graph_context::build_attn_mha} builds when flash attention is off), for
 * {@code --dot reduced}: the same inputs as {@link CachedAttention#attend}, and per (token, query
 * head) row the three ggml ops in their order, bit for bit ({@code GgmlOpsTest}, {@code scripts/ops-vs-ggml}):
 * <ol>
 *   <li>kq: s_j = q · k_j for the row's positions j = 0..p, as {@code ggml_vec_dot_f32} sums them
 *       ({@link GgmlOps#vecDotF32}: ggml's Q is a permuted view, so its mul_mat skips tinyBLAS);</li>
 *   <li>kq_soft_max: s·scale, the causal mask (−inf past p), ggml's softmax
 *       ({@link GgmlMath#softmax}) over the row padded to a multiple of 16 with masked zeros (llama.cpp's
 *       n_kv is a multiple of 256; a masked lane adds exact zeros, so the padding past 16 changes nothing);</li>
 *   <li>kqv: out[d] = sum_j p_j v_j[d] as tinyBLAS sums it ({@link GgmlOps#dotF32}'s order: lane
 *       j mod 16 accumulates by fma over j ascending, then the 16 lanes' {@link GgmlMath#hsum16};
 *       the masked positions' zero products change nothing).</li>
 * </ol>
 * A row reads only its query and its own sequence's cached positions 0..p, whatever the batch, so
 * a decode step gives the bits the same row got in a prefill, on any thread count.
 * (llama.cpp's own decode of one token may take other kernels; this is its batched prefill.)
 */
final class GgmlAttention {
    private GgmlAttention() { }

    /** Per thread: [0, 64) vecDotF32's lanes, then one key [dk], then a row's scores [p+1 padded to 16], then [dv x 16] kqv lanes. */
    private static final ThreadLocal<float[]> BUF = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Every (token, query head) of {@code batch} attends over its sequence's cache positions
     * 0..position (this step's keys and values already in {@code cache}); arguments as
     * {@link CachedAttention#attend}.
     */
    static void attend(Batch batch, KvCache cache, float[] q, int qWidth, int heads, float scale, float[] out, int outWidth) {
        int t = batch.tokens(), kvHeads = cache.heads(), group = heads / kvHeads, dk = cache.keyDim(), dv = cache.valueDim();
        if (t == 0) return;
        long work = 0;
        for (int i = 0; i < t; i++) work += (long) (batch.position()[i] + 1) * heads * (dk + dv);
        Parallel.current().forWork(t, Math.max(1, work / t), (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                int b = batch.sequenceOf()[i], p = batch.position()[i], valid = p + 1, n = (valid + 15) & ~15;
                int need = 64 + dk + n + 16 * dv;
                float[] buf = BUF.get();
                if (buf.length < need) BUF.set(buf = new float[Math.max(need, 2 * buf.length)]);
                for (int h = 0; h < heads; h++) {
                    row(cache.keys(b), cache.values(b), cache, h / group, q, i * qWidth + h * dk, valid, n, scale,
                            out, i * outWidth + h * dv, dk, dv, buf);
                }
            }
        });
    }

    private static void row(float[] kc, float[] vc, KvCache cache, int kh, float[] q, int qo, int valid, int n, float scale,
                            float[] out, int oo, int dk, int dv, float[] buf) {
        int key = 64, s = key + dk, acc = s + n;
        for (int j = 0; j < valid; j++) {
            int ko = cache.keyOffset(j, kh);
            for (int c = 0; c < dk; c++) buf[key + c] = kc[ko + c * KvCache.BLOCK];
            buf[s + j] = GgmlOps.vecDotF32(buf, key, q, qo, dk, buf);
        }
        GgmlMath.softmax(buf, s, n, valid, scale, buf);          // lanes: buf[0..16), free again here
        java.util.Arrays.fill(buf, acc, acc + 16 * dv, 0f);
        for (int j = 0; j < valid; j++) {
            int vo = cache.valueOffset(j, kh), lane = acc + (j & 15);
            float p = buf[s + j];
            for (int d = 0; d < dv; d++) buf[lane + 16 * d] = Math.fma(vc[vo + d], p, buf[lane + 16 * d]);
        }
        for (int d = 0; d < dv; d++) out[oo + d] = GgmlMath.hsum16(buf, acc + 16 * d);
    }
}
