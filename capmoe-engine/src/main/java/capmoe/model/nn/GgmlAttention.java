package capmoe.model.nn;

import capmoe.kernels.GgmlOps;
import capmoe.kernels.Parallel;
import capmoe.routing.GgmlMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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

    /** Per thread: a row's scratch ({@link #row}). */
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
        // one task per (token, head) row: a decode step's heads spread over the team too
        Parallel.current().forWork(t * heads, Math.max(1, work / ((long) t * heads)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int i = r / heads, h = r % heads;
                int b = batch.sequenceOf()[i], p = batch.position()[i], valid = p + 1, n = (valid + 15) & ~15;
                int need = 16 * L + n + 16 * dv;
                float[] buf = BUF.get();
                if (buf.length < need) BUF.set(buf = new float[Math.max(need, 2 * buf.length)]);
                row(cache.keys(b), cache.values(b), cache, h / group, q, i * qWidth + h * dk, valid, n, scale,
                        out, i * outWidth + h * dv, dk, dv, buf);
            }
        });
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    static {
        if (KvCache.BLOCK % L != 0 || 16 % L != 0) {
            throw new ExceptionInInitializerError("KvCache.BLOCK=" + KvCache.BLOCK + " and 16 must be multiples of " + L);
        }
    }

    /**
     * One (token, head) row; buf holds [0, 16·L) the 16 lane sums of a block's scores (positions in
     * the vector lanes), then the row's scores [n], then the kqv lanes [16 x dv]. Each vector lane
     * below runs one element's scalar chain (an fma in a lane rounds as {@link Math#fma}), so the
     * bits are {@link GgmlOps#vecDotF32}'s and {@link GgmlOps#dotF32}'s.
     */
    private static void row(float[] kc, float[] vc, KvCache cache, int kh, float[] q, int qo, int valid, int n, float scale,
                            float[] out, int oo, int dk, int dv, float[] buf) {
        int s = 16 * L, acc = s + n, np = dk & ~63;
        // 1. kq: ggml_vec_dot_f32 per position, L positions of a key block at once: the 64-dim steps
        // (four accumulators per lane) and their tree first, then the leftover dims' adds
        for (int start = 0; start < valid; start += L) {
            if (np == 0) {                                       // no 64-dim step: ggml's sum starts at 0
                java.util.Arrays.fill(buf, s + start, s + start + L, 0f);
                continue;
            }
            int ko = cache.keyOffset(start, kh);                 // dim c of position start+lane at ko + c*BLOCK + lane
            for (int l = 0; l < 16; l++) {
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                for (int i = 0; i < np; i += 64) {
                    int c = i + l;
                    a0 = FloatVector.fromArray(F, kc, ko + c * KvCache.BLOCK).fma(FloatVector.broadcast(F, q[qo + c]), a0);
                    a1 = FloatVector.fromArray(F, kc, ko + (c + 16) * KvCache.BLOCK).fma(FloatVector.broadcast(F, q[qo + c + 16]), a1);
                    a2 = FloatVector.fromArray(F, kc, ko + (c + 32) * KvCache.BLOCK).fma(FloatVector.broadcast(F, q[qo + c + 32]), a2);
                    a3 = FloatVector.fromArray(F, kc, ko + (c + 48) * KvCache.BLOCK).fma(FloatVector.broadcast(F, q[qo + c + 48]), a3);
                }
                a0.add(a2).add(a1.add(a3)).intoArray(buf, l * L);
            }
            tree16(buf, 0, L, L);
            System.arraycopy(buf, 0, buf, s + start, L);
        }
        // the leftover dims: each position's adds in dim order, four key blocks' chains interleaved
        // (independent chains, so the adds' latency overlaps; positions past the row's are masked by the softmax)
        if (np < dk) {
            int start = 0;
            for (; start + 3 * L < valid; start += 4 * L) {
                int k0 = cache.keyOffset(start, kh), k1 = cache.keyOffset(start + L, kh);
                int k2 = cache.keyOffset(start + 2 * L, kh), k3 = cache.keyOffset(start + 3 * L, kh);
                FloatVector s0 = FloatVector.fromArray(F, buf, s + start), s1 = FloatVector.fromArray(F, buf, s + start + L);
                FloatVector s2 = FloatVector.fromArray(F, buf, s + start + 2 * L), s3 = FloatVector.fromArray(F, buf, s + start + 3 * L);
                for (int c = np; c < dk; c++) {
                    float qc = q[qo + c];
                    int co = c * KvCache.BLOCK;
                    s0 = s0.add(FloatVector.fromArray(F, kc, k0 + co).mul(qc));
                    s1 = s1.add(FloatVector.fromArray(F, kc, k1 + co).mul(qc));
                    s2 = s2.add(FloatVector.fromArray(F, kc, k2 + co).mul(qc));
                    s3 = s3.add(FloatVector.fromArray(F, kc, k3 + co).mul(qc));
                }
                s0.intoArray(buf, s + start);
                s1.intoArray(buf, s + start + L);
                s2.intoArray(buf, s + start + 2 * L);
                s3.intoArray(buf, s + start + 3 * L);
            }
            for (; start < valid; start += L) {
                int ko = cache.keyOffset(start, kh);
                FloatVector sum = FloatVector.fromArray(F, buf, s + start);
                for (int c = np; c < dk; c++) sum = sum.add(FloatVector.fromArray(F, kc, ko + c * KvCache.BLOCK).mul(q[qo + c]));
                sum.intoArray(buf, s + start);
            }
        }
        // 2. kq_soft_max
        softmax(buf, s, n, valid, scale);
        // 3. kqv: lane j mod 16 of every value dim, fma over j ascending, then the 16 lanes' tree.
        // Eight lanes' chains at once (positions j..j+7 of one cache block, rows dv apart), each in a
        // register, so the fmas' latency overlaps; each chain's order is unchanged.
        int full = F.loopBound(dv);
        for (int l = 0; l < 16; l += 8) {
            int a = acc + l * dv;
            for (int d = 0; d < full; d += L) {
                FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
                int j = l;
                for (; j + 7 < valid; j += 16) {
                    int vo = cache.valueOffset(j, kh) + d, ps = s + j;
                    c0 = FloatVector.fromArray(F, vc, vo).fma(FloatVector.broadcast(F, buf[ps]), c0);
                    c1 = FloatVector.fromArray(F, vc, vo + dv).fma(FloatVector.broadcast(F, buf[ps + 1]), c1);
                    c2 = FloatVector.fromArray(F, vc, vo + 2 * dv).fma(FloatVector.broadcast(F, buf[ps + 2]), c2);
                    c3 = FloatVector.fromArray(F, vc, vo + 3 * dv).fma(FloatVector.broadcast(F, buf[ps + 3]), c3);
                    c4 = FloatVector.fromArray(F, vc, vo + 4 * dv).fma(FloatVector.broadcast(F, buf[ps + 4]), c4);
                    c5 = FloatVector.fromArray(F, vc, vo + 5 * dv).fma(FloatVector.broadcast(F, buf[ps + 5]), c5);
                    c6 = FloatVector.fromArray(F, vc, vo + 6 * dv).fma(FloatVector.broadcast(F, buf[ps + 6]), c6);
                    c7 = FloatVector.fromArray(F, vc, vo + 7 * dv).fma(FloatVector.broadcast(F, buf[ps + 7]), c7);
                }
                if (j < valid) {                                  // the last positions: only lanes with j+i < valid
                    int vo = cache.valueOffset(j, kh) + d, ps = s + j;
                    c0 = FloatVector.fromArray(F, vc, vo).fma(FloatVector.broadcast(F, buf[ps]), c0);
                    if (j + 1 < valid) c1 = FloatVector.fromArray(F, vc, vo + dv).fma(FloatVector.broadcast(F, buf[ps + 1]), c1);
                    if (j + 2 < valid) c2 = FloatVector.fromArray(F, vc, vo + 2 * dv).fma(FloatVector.broadcast(F, buf[ps + 2]), c2);
                    if (j + 3 < valid) c3 = FloatVector.fromArray(F, vc, vo + 3 * dv).fma(FloatVector.broadcast(F, buf[ps + 3]), c3);
                    if (j + 4 < valid) c4 = FloatVector.fromArray(F, vc, vo + 4 * dv).fma(FloatVector.broadcast(F, buf[ps + 4]), c4);
                    if (j + 5 < valid) c5 = FloatVector.fromArray(F, vc, vo + 5 * dv).fma(FloatVector.broadcast(F, buf[ps + 5]), c5);
                    if (j + 6 < valid) c6 = FloatVector.fromArray(F, vc, vo + 6 * dv).fma(FloatVector.broadcast(F, buf[ps + 6]), c6);
                }
                c0.intoArray(buf, a + d);
                c1.intoArray(buf, a + dv + d);
                c2.intoArray(buf, a + 2 * dv + d);
                c3.intoArray(buf, a + 3 * dv + d);
                c4.intoArray(buf, a + 4 * dv + d);
                c5.intoArray(buf, a + 5 * dv + d);
                c6.intoArray(buf, a + 6 * dv + d);
                c7.intoArray(buf, a + 7 * dv + d);
            }
            for (int li = l; li < l + 8; li++) {
                for (int d = full; d < dv; d++) {
                    float c = 0f;
                    for (int j = li; j < valid; j += 16) c = Math.fma(vc[cache.valueOffset(j, kh) + d], buf[s + j], c);
                    buf[acc + li * dv + d] = c;
                }
            }
        }
        tree16(buf, acc, dv, dv);
        System.arraycopy(buf, acc, out, oo, dv);
    }

    /**
     * {@link GgmlMath#softmax} of one row at x[o..o+n) (n a multiple of 16, elements from {@code valid} on
     * masked), with {@link GgmlMath#expf} in vector lanes: the same fmas, and 2^n applied as two exact
     * power-of-two products, the second rounding once as {@code vscalefps} (and {@link Math#scalb}) do
     * (n <= 0 here, the scores being at most their max).
     */
    private static void softmax(float[] x, int o, int n, int valid, float scale) {
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int vb = F.loopBound(valid), i0 = 0;
        for (; i0 < vb; i0 += L) {                                // max is exact in any order
            FloatVector v = FloatVector.fromArray(F, x, o + i0).mul(scale);
            v.intoArray(x, o + i0);
            mv = mv.max(v);
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (; i0 < valid; i0++) {
            x[o + i0] *= scale;
            max = Math.max(max, x[o + i0]);
        }
        FloatVector m = FloatVector.broadcast(F, max);
        for (int i = 0; i < n; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, o + i).sub(m);
            FloatVector z = v.fma(FloatVector.broadcast(F, 0x1.715476p+0f), FloatVector.broadcast(F, 0x1.8p23f));
            FloatVector k = z.sub(0x1.8p23f), nk = k.neg();
            FloatVector b = nk.fma(FloatVector.broadcast(F, 0x1.7f7d1cp-20f), nk.fma(FloatVector.broadcast(F, 0x1.62e4p-1f), v));
            FloatVector u = b.mul(b);
            FloatVector p1 = b.fma(FloatVector.broadcast(F, 0x1.0e4020p-7f), FloatVector.broadcast(F, 0x1.573e2ep-5f));
            FloatVector p2 = b.fma(FloatVector.broadcast(F, 0x1.555e66p-3f), FloatVector.broadcast(F, 0x1.fffdb6p-2f));
            FloatVector j = p1.fma(u, p2).fma(u, b.fma(FloatVector.broadcast(F, 0x1.ffffecp-1f), FloatVector.broadcast(F, 1f)));
            IntVector ki = (IntVector) k.convert(VectorOperators.F2I, 0);
            IntVector k2 = ki.max(-126), k1 = ki.sub(k2);
            FloatVector e = j.mul(k1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                    .mul(k2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
            VectorMask<Float> keep = F.indexInRange(i, valid).and(k.compare(VectorOperators.GE, -192f));
            e.blend(0f, keep.not()).intoArray(x, o + i);
        }
        double sum = 0;
        for (int i = 0; i < n; i += 16) sum += GgmlMath.hsum16(x, o + i);
        FloatVector inv = FloatVector.broadcast(F, (float) (1.0 / sum));
        for (int i = 0; i < n; i += L) FloatVector.fromArray(F, x, o + i).mul(inv).intoArray(x, o + i);
    }

    /**
     * {@link GgmlMath#hsum16} element-wise over 16 rows of {@code width} floats at a[o + l*stride]
     * (l = 0..15), in place: the sums are left in row 0. (Vectors never leave this method, so C2
     * keeps them in registers: no allocation per call.)
     */
    private static void tree16(float[] a, int o, int stride, int width) {
        int full = F.loopBound(width);
        for (int half = 8; half >= 1; half >>= 1) {                // rows i+half onto i: 8, then 4, 2, 1
            for (int i = 0; i < half; i++) {
                int x = o + i * stride, y = o + (i + half) * stride, d = 0;
                for (; d < full; d += L) FloatVector.fromArray(F, a, y + d).add(FloatVector.fromArray(F, a, x + d)).intoArray(a, x + d);
                for (; d < width; d++) a[x + d] = a[y + d] + a[x + d];
            }
        }
    }
}
