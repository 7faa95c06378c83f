package capmoe.model.nn;

import capmoe.kernels.GgmlOps;
import capmoe.kernels.Parallel;
import capmoe.kernels.ThreadSlot;
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
 * A row's bits depend only on its query and its own sequence's cached positions 0..p, whatever the
 * batch (rows of one sequence and kv head go four at a time, {@link #quad}, each element by the
 * one-row order of {@link #row}), so a decode step gives the bits the same row got in a prefill, on
 * any thread count.
 * (llama.cpp's own decode of one token may take other kernels; this is its batched prefill.)
 */
final class GgmlAttention {
    private GgmlAttention() { }

    /** Query rows that share each key and value row they load ({@link #quad}): four, as {@link CachedAttention}'s. */
    private static final int R = 4;
    /**
     * Rows at positions below this go alone ({@link #row}) in a prefill too, though quads would
     * serve them: their work is 1.6% of a 512-token prefill's, and so the one-row kernel, which a
     * decode step of one token per kv head runs, is compiled (C2, vectors in registers) from the
     * prefill's thousands of calls with every branch profiled. Run by decode steps alone, its
     * first compilations were on-stack replacements from the interpreter, its vectors boxed (in
     * some runs 579 KB allocated per olmoe-tiny token and a third of the tokens/s, for hundreds of steps).
     */
    private static final int ALONE = 64;
    /** Rows a task holds (tokens x the group's query heads), unless one token has more heads: two quads. */
    private static final int ROWS_PER_TASK = 8;

    /** Per thread: a quad's or a row's scratch ({@link #quad}, {@link #row}). */
    private static final ThreadLocal<float[]> BUF = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Every (token, query head) of {@code batch} attends over its sequence's cache positions
     * 0..position (this step's keys and values already in {@code cache}); arguments as
     * {@link CachedAttention#attend}. Rows of one sequence and kv head go four at a time
     * ({@link #quad}: each key and value row loaded serves the four), the rest one at a time
     * ({@link #row}); the same bits either way ({@code GgmlAttentionTest}).
     */
    static void attend(Batch batch, KvCache cache, float[] q, int qWidth, int heads, float scale, float[] out, int outWidth) {
        attend(batch, cache, q, qWidth, heads, scale, out, outWidth, ALONE);
    }

    /**
     * {@link #attend} with the rows at positions below {@code alone} alone ({@link #row}) and the rest
     * in quads where they make them: for the tests' bit comparisons, 0 (quads wherever possible)
     * against {@link Integer#MAX_VALUE} (every row alone: the order before the quads).
     */
    static void attend(Batch batch, KvCache cache, float[] q, int qWidth, int heads, float scale,
                       float[] out, int outWidth, int alone) {
        int t = batch.tokens(), kvHeads = cache.heads(), tq = Math.max(1, ROWS_PER_TASK / (heads / kvHeads));
        if (t == 0) return;
        long work = 0;
        for (int i = 0; i < t; i++) work += (long) (batch.position()[i] + 1) * heads * (cache.keyDim() + cache.valueDim());
        int tasks = (t + tq - 1) / tq * kvHeads;
        Parallel team = Parallel.current();
        // a prefill's many tasks in 4 strided chunks per thread (balance); a decode step's few (one
        // token: one task per kv head) in at most one chunk per thread, as the rows were before quads
        int chunks = team.tasks(work, tasks);
        if (chunks > 1 && tasks > 4 * team.threads()) chunks = 4 * team.threads();
        Tasks body = TASKS.take();
        body.set(batch, cache, q, qWidth, heads, scale, out, outWidth, tq, tasks, chunks, alone);
        try {
            team.forEach(chunks, body);
        } finally {
            body.set(null, null, null, 0, 0, 0f, null, 0, 0, 0, 0, 0);
            TASKS.put(body);
        }
    }

    /** Per calling thread: {@link #attend}'s phase body, reused by the next call (a decode step allocates no lambda here). */
    private static final ThreadSlot<Tasks> TASKS = new ThreadSlot<>(Tasks::new);

    /**
     * {@link #attend}'s phase: chunk c runs tasks c, c + chunks, ... (later tokens cost more; striding
     * evens the chunks out), task = (block of tq batch tokens, kv head). Inside a task, the tokens of
     * one sequence times the kv head's query heads are rows sharing one cache's keys and values: those
     * at positions below {@code aloneBelow} alone, quads of the rest, the last few alone.
     */
    private static final class Tasks implements Parallel.Task {
        private Batch batch;
        private KvCache cache;
        private float[] q, out;
        private int qWidth, outWidth, heads, tq, tasks, chunks, aloneBelow;
        private float scale;

        void set(Batch batch, KvCache cache, float[] q, int qWidth, int heads, float scale, float[] out, int outWidth,
                 int tq, int tasks, int chunks, int alone) {
            this.batch = batch;
            this.cache = cache;
            this.q = q;
            this.qWidth = qWidth;
            this.heads = heads;
            this.scale = scale;
            this.out = out;
            this.outWidth = outWidth;
            this.tq = tq;
            this.tasks = tasks;
            this.chunks = chunks;
            this.aloneBelow = alone;
        }

        @Override
        public void run(int c) {
            int kvHeads = cache.heads(), group = heads / kvHeads, dk = cache.keyDim(), dv = cache.valueDim();
            int[] seq = batch.sequenceOf(), pos = batch.position();
            for (int task = c; task < tasks; task += chunks) {
                int kh = task % kvHeads, i1 = Math.min(batch.tokens(), (task / kvHeads + 1) * tq);
                for (int i = task / kvHeads * tq, e; i < i1; i = e) {
                    int b = seq[i];
                    for (e = i + 1; e < i1 && seq[e] == b; e++) { }
                    float[] kc = cache.keys(b), vc = cache.values(b);
                    int rows = (e - i) * group, r = 0;         // row r: token i + r / group, query head kh*group + r % group
                    for (; r < rows && pos[i + r / group] < aloneBelow; r++) alone(kc, vc, kh, i, r, group, dk, dv);
                    for (; r + R <= rows; r += R) {
                        int t0 = i + r / group, t1 = i + (r + 1) / group, t2 = i + (r + 2) / group, t3 = i + (r + 3) / group;
                        int h0 = kh * group + r % group, h1 = kh * group + (r + 1) % group;
                        int h2 = kh * group + (r + 2) % group, h3 = kh * group + (r + 3) % group;
                        int v0 = pos[t0] + 1, v1 = pos[t1] + 1, v2 = pos[t2] + 1, v3 = pos[t3] + 1;
                        int nMax = (Math.max(Math.max(v0, v1), Math.max(v2, v3)) + 15) & ~15;
                        quad(kc, vc, cache, kh, q, t0 * qWidth + h0 * dk, t1 * qWidth + h1 * dk, t2 * qWidth + h2 * dk,
                                t3 * qWidth + h3 * dk, v0, v1, v2, v3, scale, out, t0 * outWidth + h0 * dv, t1 * outWidth + h1 * dv,
                                t2 * outWidth + h2 * dv, t3 * outWidth + h3 * dv, dk, dv, buffer(R * (16 * L + nMax + 16 * dv)), nMax);
                    }
                    for (; r < rows; r++) alone(kc, vc, kh, i, r, group, dk, dv);
                }
            }
        }

        /** Row r of the rows from token i on, alone ({@link #row}). */
        private void alone(float[] kc, float[] vc, int kh, int i, int r, int group, int dk, int dv) {
            int ti = i + r / group, h = kh * group + r % group, valid = batch.position()[ti] + 1, n = (valid + 15) & ~15;
            row(kc, vc, cache, kh, q, ti * qWidth + h * dk, valid, n, scale, out, ti * outWidth + h * dv, dk, dv,
                    buffer(16 * L + n + 16 * dv));
        }
    }

    /** This thread's scratch, at least {@code need} floats. */
    private static float[] buffer(int need) {
        float[] buf = BUF.get();
        if (buf.length < need) BUF.set(buf = new float[Math.max(need, 2 * buf.length)]);
        return buf;
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
        rowSteps(kc, cache, kh, q, qo, valid, np, buf, s);
        // the leftover dims: each position's adds in dim order, four key blocks' chains interleaved
        // (independent chains, so the adds' latency overlaps; positions past the row's are masked by the softmax)
        if (np < dk) rowLeftover(kc, cache, kh, q, qo, valid, np, dk, buf, s);
        // 2. kq_soft_max
        softmax(buf, s, n, valid, scale);
        // 3. kqv: lane j mod 16 of every value dim, fma over j ascending, then the 16 lanes' tree.
        // Eight lanes' chains at once (positions j..j+7 of one cache block, rows dv apart), each in a
        // register, so the fmas' latency overlaps; each chain's order is unchanged.
        rowKqv(vc, cache, kh, valid, dv, buf, s, acc);
        tree16(buf, acc, dv, dv);
        System.arraycopy(buf, acc, out, oo, dv);
    }

    /**
     * {@link #row}'s scores' 64-dim steps (np dims; none: zeros) for positions 0..valid (rounded up to
     * L) into buf[s + position], L positions of a key block at once. (Each of {@link #row}'s phases
     * is a method of its own, so that C2 compiles each within its node budget: vector calls it stops
     * inlining there are boxed objects, kilobytes per decode step.)
     */
    private static void rowSteps(float[] kc, KvCache cache, int kh, float[] q, int qo, int valid, int np, float[] buf, int s) {
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
    }

    /** {@link #row}'s scores' leftover dims np..dk-1: each position's adds onto buf[s + position] in dim order. */
    private static void rowLeftover(float[] kc, KvCache cache, int kh, float[] q, int qo, int valid, int np, int dk, float[] buf, int s) {
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

    /** {@link #row}'s p·V lanes: lane l of value dim d, the fma chain over j = l, l+16, ... < valid, to buf[acc + l·dv + d]. */
    private static void rowKqv(float[] vc, KvCache cache, int kh, int valid, int dv, float[] buf, int s, int acc) {
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
    }

    /**
     * Four rows of one sequence and kv head with {@code valid} positions v0..v3, each row's every
     * score, probability and output element by {@link #row}'s chain in {@link #row}'s order, so the
     * same bits; but each key vector and value row loaded serves the four rows' chains (16 chains in
     * registers for the scores, 4 x 3 value vectors for p·V). buf holds [0, 4·16·L) the rows' lane sums
     * of a key block (row r at r·16·L), then the rows' scores [4][nMax] (nMax: the longest row's n;
     * a shorter row's scores past its own positions are computed from keys it does not see and masked
     * by its softmax, as {@link #row}'s past {@code valid} are), then the rows' kqv lanes [4][16 x dv].
     */
    private static void quad(float[] kc, float[] vc, KvCache cache, int kh, float[] q, int q0, int q1, int q2, int q3,
                             int v0, int v1, int v2, int v3, float scale, float[] out, int o0, int o1, int o2, int o3,
                             int dk, int dv, float[] buf, int nMax) {
        int vMax = Math.max(Math.max(v0, v1), Math.max(v2, v3)), vMin = Math.min(Math.min(v0, v1), Math.min(v2, v3));
        int tr = 16 * L, s0 = R * tr, s1 = s0 + nMax, s2 = s1 + nMax, s3 = s2 + nMax, lanes = 16 * dv;
        int a0 = s3 + nMax, a1 = a0 + lanes, a2 = a1 + lanes, a3 = a2 + lanes, np = dk & ~63;
        // 1. kq: the 64-dim steps (four accumulators per ggml lane l, for each of the four rows) and their tree
        for (int start = 0; start < vMax && np > 0; start += L) steps4(kc, cache.keyOffset(start, kh), q, q0, q1, q2, q3, np, buf, s0 + start, nMax);
        if (np == 0) {                                           // no 64-dim step: ggml's sums start at 0
            for (int r = 0; r < R; r++) java.util.Arrays.fill(buf, s0 + r * nMax, s0 + r * nMax + ((vMax + L - 1) & -L), 0f);
        }
        // the leftover dims: each position's adds in dim order; four rows x four key blocks' chains
        if (np < dk) leftover4(kc, cache, kh, q, q0, q1, q2, q3, np, dk, vMax, buf, s0, nMax);
        // 2. kq_soft_max, each row over its own positions
        softmax(buf, s0, (v0 + 15) & ~15, v0, scale);
        softmax(buf, s1, (v1 + 15) & ~15, v1, scale);
        softmax(buf, s2, (v2 + 15) & ~15, v2, scale);
        softmax(buf, s3, (v3 + 15) & ~15, v3, scale);
        // 3. kqv: per lane l the chains of the positions j = l, l+16, ... that all four rows see, each
        // value row loaded once for the four (three value vectors x four rows in registers), then the
        // longer rows' last positions continue their chains (tail), then each row's 16 lanes' tree
        kqv4(vc, cache, kh, vMin, dv, buf, s0, nMax, a0);
        tail(vc, cache, kh, buf, s0, a0, vMin, v0, dv);
        tail(vc, cache, kh, buf, s1, a1, vMin, v1, dv);
        tail(vc, cache, kh, buf, s2, a2, vMin, v2, dv);
        tail(vc, cache, kh, buf, s3, a3, vMin, v3, dv);
        tree16(buf, a0, dv, dv);
        tree16(buf, a1, dv, dv);
        tree16(buf, a2, dv, dv);
        tree16(buf, a3, dv, dv);
        System.arraycopy(buf, a0, out, o0, dv);
        System.arraycopy(buf, a1, out, o1, dv);
        System.arraycopy(buf, a2, out, o2, dv);
        System.arraycopy(buf, a3, out, o3, dv);
    }

    /**
     * {@link #quad}'s 64-dim steps of the scores of positions ko's L key lanes (np dims): per ggml lane l
     * the four accumulators of each of the four rows, their sum, and the 16 lanes' tree; row r's L
     * scores to buf[so + r·nMax ..].
     */
    private static void steps4(float[] kc, int ko, float[] q, int q0, int q1, int q2, int q3, int np, float[] buf, int so, int nMax) {
        int tr = 16 * L, B = KvCache.BLOCK;
        for (int l = 0; l < 16; l++) {
            FloatVector z = FloatVector.zero(F);
            FloatVector x00 = z, x01 = z, x02 = z, x03 = z, x10 = z, x11 = z, x12 = z, x13 = z;
            FloatVector x20 = z, x21 = z, x22 = z, x23 = z, x30 = z, x31 = z, x32 = z, x33 = z;
            for (int i = 0; i < np; i += 64) {
                int c = i + l;
                FloatVector k0 = FloatVector.fromArray(F, kc, ko + c * B), k1 = FloatVector.fromArray(F, kc, ko + (c + 16) * B);
                FloatVector k2 = FloatVector.fromArray(F, kc, ko + (c + 32) * B), k3 = FloatVector.fromArray(F, kc, ko + (c + 48) * B);
                x00 = k0.fma(FloatVector.broadcast(F, q[q0 + c]), x00);
                x01 = k1.fma(FloatVector.broadcast(F, q[q0 + c + 16]), x01);
                x02 = k2.fma(FloatVector.broadcast(F, q[q0 + c + 32]), x02);
                x03 = k3.fma(FloatVector.broadcast(F, q[q0 + c + 48]), x03);
                x10 = k0.fma(FloatVector.broadcast(F, q[q1 + c]), x10);
                x11 = k1.fma(FloatVector.broadcast(F, q[q1 + c + 16]), x11);
                x12 = k2.fma(FloatVector.broadcast(F, q[q1 + c + 32]), x12);
                x13 = k3.fma(FloatVector.broadcast(F, q[q1 + c + 48]), x13);
                x20 = k0.fma(FloatVector.broadcast(F, q[q2 + c]), x20);
                x21 = k1.fma(FloatVector.broadcast(F, q[q2 + c + 16]), x21);
                x22 = k2.fma(FloatVector.broadcast(F, q[q2 + c + 32]), x22);
                x23 = k3.fma(FloatVector.broadcast(F, q[q2 + c + 48]), x23);
                x30 = k0.fma(FloatVector.broadcast(F, q[q3 + c]), x30);
                x31 = k1.fma(FloatVector.broadcast(F, q[q3 + c + 16]), x31);
                x32 = k2.fma(FloatVector.broadcast(F, q[q3 + c + 32]), x32);
                x33 = k3.fma(FloatVector.broadcast(F, q[q3 + c + 48]), x33);
            }
            x00.add(x02).add(x01.add(x03)).intoArray(buf, l * L);
            x10.add(x12).add(x11.add(x13)).intoArray(buf, tr + l * L);
            x20.add(x22).add(x21.add(x23)).intoArray(buf, 2 * tr + l * L);
            x30.add(x32).add(x31.add(x33)).intoArray(buf, 3 * tr + l * L);
        }
        for (int r = 0; r < R; r++) {
            tree16(buf, r * tr, L, L);
            System.arraycopy(buf, r * tr, buf, so + r * nMax, L);
        }
    }

    /**
     * {@link #quad}'s scores' leftover dims np..dk-1 for positions 0..vMax (rounded up to L): each
     * position's adds in dim order onto buf[so + r·nMax + position] (row r), four rows x four key
     * blocks' chains at once, then four rows x one block.
     */
    private static void leftover4(float[] kc, KvCache cache, int kh, float[] q, int q0, int q1, int q2, int q3, int np, int dk,
                                  int vMax, float[] buf, int so, int nMax) {
        int start = 0;
        for (; start + 3 * L < vMax; start += 4 * L) {
            leftover4x4(kc, cache.keyOffset(start, kh), cache.keyOffset(start + L, kh), cache.keyOffset(start + 2 * L, kh),
                    cache.keyOffset(start + 3 * L, kh), q, q0, q1, q2, q3, np, dk, buf, so + start, nMax);
        }
        for (; start < vMax; start += L) leftover1x4(kc, cache.keyOffset(start, kh), q, q0, q1, q2, q3, np, dk, buf, so + start, nMax);
    }

    /**
     * {@link #leftover4} for four key blocks of L positions (key dim c at k0..k3 + c·BLOCK): four
     * rows x four blocks' chains; row r's scores of block i at buf[so + r·nMax + i·L ..].
     */
    private static void leftover4x4(float[] kc, int k0, int k1, int k2, int k3, float[] q, int q0, int q1, int q2, int q3,
                                    int np, int dk, float[] buf, int so, int nMax) {
        int p0 = so, p1 = p0 + nMax, p2 = p1 + nMax, p3 = p2 + nMax, B = KvCache.BLOCK;
        FloatVector x00 = FloatVector.fromArray(F, buf, p0), x01 = FloatVector.fromArray(F, buf, p0 + L);
        FloatVector x02 = FloatVector.fromArray(F, buf, p0 + 2 * L), x03 = FloatVector.fromArray(F, buf, p0 + 3 * L);
        FloatVector x10 = FloatVector.fromArray(F, buf, p1), x11 = FloatVector.fromArray(F, buf, p1 + L);
        FloatVector x12 = FloatVector.fromArray(F, buf, p1 + 2 * L), x13 = FloatVector.fromArray(F, buf, p1 + 3 * L);
        FloatVector x20 = FloatVector.fromArray(F, buf, p2), x21 = FloatVector.fromArray(F, buf, p2 + L);
        FloatVector x22 = FloatVector.fromArray(F, buf, p2 + 2 * L), x23 = FloatVector.fromArray(F, buf, p2 + 3 * L);
        FloatVector x30 = FloatVector.fromArray(F, buf, p3), x31 = FloatVector.fromArray(F, buf, p3 + L);
        FloatVector x32 = FloatVector.fromArray(F, buf, p3 + 2 * L), x33 = FloatVector.fromArray(F, buf, p3 + 3 * L);
        for (int c = np; c < dk; c++) {
            int co = c * B;
            FloatVector y0 = FloatVector.fromArray(F, kc, k0 + co), y1 = FloatVector.fromArray(F, kc, k1 + co);
            FloatVector y2 = FloatVector.fromArray(F, kc, k2 + co), y3 = FloatVector.fromArray(F, kc, k3 + co);
            FloatVector b = FloatVector.broadcast(F, q[q0 + c]);
            x00 = x00.add(y0.mul(b));
            x01 = x01.add(y1.mul(b));
            x02 = x02.add(y2.mul(b));
            x03 = x03.add(y3.mul(b));
            b = FloatVector.broadcast(F, q[q1 + c]);
            x10 = x10.add(y0.mul(b));
            x11 = x11.add(y1.mul(b));
            x12 = x12.add(y2.mul(b));
            x13 = x13.add(y3.mul(b));
            b = FloatVector.broadcast(F, q[q2 + c]);
            x20 = x20.add(y0.mul(b));
            x21 = x21.add(y1.mul(b));
            x22 = x22.add(y2.mul(b));
            x23 = x23.add(y3.mul(b));
            b = FloatVector.broadcast(F, q[q3 + c]);
            x30 = x30.add(y0.mul(b));
            x31 = x31.add(y1.mul(b));
            x32 = x32.add(y2.mul(b));
            x33 = x33.add(y3.mul(b));
        }
        x00.intoArray(buf, p0);
        x01.intoArray(buf, p0 + L);
        x02.intoArray(buf, p0 + 2 * L);
        x03.intoArray(buf, p0 + 3 * L);
        x10.intoArray(buf, p1);
        x11.intoArray(buf, p1 + L);
        x12.intoArray(buf, p1 + 2 * L);
        x13.intoArray(buf, p1 + 3 * L);
        x20.intoArray(buf, p2);
        x21.intoArray(buf, p2 + L);
        x22.intoArray(buf, p2 + 2 * L);
        x23.intoArray(buf, p2 + 3 * L);
        x30.intoArray(buf, p3);
        x31.intoArray(buf, p3 + L);
        x32.intoArray(buf, p3 + 2 * L);
        x33.intoArray(buf, p3 + 3 * L);
    }

    /** {@link #leftover4} for the L positions of one key block (key dim c at ko + c·BLOCK), row r's at buf[so + r·nMax ..]. */
    private static void leftover1x4(float[] kc, int ko, float[] q, int q0, int q1, int q2, int q3, int np, int dk, float[] buf, int so, int nMax) {
        int s0 = so, s1 = s0 + nMax, s2 = s1 + nMax, s3 = s2 + nMax, B = KvCache.BLOCK;
        FloatVector x0 = FloatVector.fromArray(F, buf, s0), x1 = FloatVector.fromArray(F, buf, s1);
        FloatVector x2 = FloatVector.fromArray(F, buf, s2), x3 = FloatVector.fromArray(F, buf, s3);
        for (int c = np; c < dk; c++) {
            FloatVector y = FloatVector.fromArray(F, kc, ko + c * B);
            x0 = x0.add(y.mul(q[q0 + c]));
            x1 = x1.add(y.mul(q[q1 + c]));
            x2 = x2.add(y.mul(q[q2 + c]));
            x3 = x3.add(y.mul(q[q3 + c]));
        }
        x0.intoArray(buf, s0);
        x1.intoArray(buf, s1);
        x2.intoArray(buf, s2);
        x3.intoArray(buf, s3);
    }

    /**
     * {@link #quad}'s p·V over the positions all four rows see (0..vMin-1): per lane l the chains of
     * j = l, l+16, ... of each value dim, fma in j order, into the rows' kqv lanes at
     * buf[ao + r·16·dv + l·dv ..] (probabilities at buf[so + r·nMax ..]); each value row loaded
     * once for the four rows (three value vectors x four rows in registers).
     */
    private static void kqv4(float[] vc, KvCache cache, int kh, int vMin, int dv, float[] buf, int so, int nMax, int ao) {
        int s0 = so, s1 = s0 + nMax, s2 = s1 + nMax, s3 = s2 + nMax, lanes = 16 * dv;
        int a0 = ao, a1 = a0 + lanes, a2 = a1 + lanes, a3 = a2 + lanes;
        int full = F.loopBound(dv);
        for (int l = 0; l < 16; l++) {
            int d = 0, lo = l * dv;
            for (; d + 3 * L <= full; d += 3 * L) {
                FloatVector z = FloatVector.zero(F);
                FloatVector x00 = z, x01 = z, x02 = z, x10 = z, x11 = z, x12 = z, x20 = z, x21 = z, x22 = z, x30 = z, x31 = z, x32 = z;
                for (int j = l; j < vMin; j += 16) {
                    int vo = cache.valueOffset(j, kh) + d;
                    FloatVector y0 = FloatVector.fromArray(F, vc, vo), y1 = FloatVector.fromArray(F, vc, vo + L);
                    FloatVector y2 = FloatVector.fromArray(F, vc, vo + 2 * L);
                    FloatVector p = FloatVector.broadcast(F, buf[s0 + j]);
                    x00 = y0.fma(p, x00);
                    x01 = y1.fma(p, x01);
                    x02 = y2.fma(p, x02);
                    p = FloatVector.broadcast(F, buf[s1 + j]);
                    x10 = y0.fma(p, x10);
                    x11 = y1.fma(p, x11);
                    x12 = y2.fma(p, x12);
                    p = FloatVector.broadcast(F, buf[s2 + j]);
                    x20 = y0.fma(p, x20);
                    x21 = y1.fma(p, x21);
                    x22 = y2.fma(p, x22);
                    p = FloatVector.broadcast(F, buf[s3 + j]);
                    x30 = y0.fma(p, x30);
                    x31 = y1.fma(p, x31);
                    x32 = y2.fma(p, x32);
                }
                x00.intoArray(buf, a0 + lo + d);
                x01.intoArray(buf, a0 + lo + d + L);
                x02.intoArray(buf, a0 + lo + d + 2 * L);
                x10.intoArray(buf, a1 + lo + d);
                x11.intoArray(buf, a1 + lo + d + L);
                x12.intoArray(buf, a1 + lo + d + 2 * L);
                x20.intoArray(buf, a2 + lo + d);
                x21.intoArray(buf, a2 + lo + d + L);
                x22.intoArray(buf, a2 + lo + d + 2 * L);
                x30.intoArray(buf, a3 + lo + d);
                x31.intoArray(buf, a3 + lo + d + L);
                x32.intoArray(buf, a3 + lo + d + 2 * L);
            }
            for (; d < full; d += L) {
                FloatVector x0 = FloatVector.zero(F), x1 = x0, x2 = x0, x3 = x0;
                for (int j = l; j < vMin; j += 16) {
                    FloatVector y = FloatVector.fromArray(F, vc, cache.valueOffset(j, kh) + d);
                    x0 = y.fma(FloatVector.broadcast(F, buf[s0 + j]), x0);
                    x1 = y.fma(FloatVector.broadcast(F, buf[s1 + j]), x1);
                    x2 = y.fma(FloatVector.broadcast(F, buf[s2 + j]), x2);
                    x3 = y.fma(FloatVector.broadcast(F, buf[s3 + j]), x3);
                }
                x0.intoArray(buf, a0 + lo + d);
                x1.intoArray(buf, a1 + lo + d);
                x2.intoArray(buf, a2 + lo + d);
                x3.intoArray(buf, a3 + lo + d);
            }
            for (; d < dv; d++) {
                float x0 = 0f, x1 = 0f, x2 = 0f, x3 = 0f;
                for (int j = l; j < vMin; j += 16) {
                    float y = vc[cache.valueOffset(j, kh) + d];
                    x0 = Math.fma(y, buf[s0 + j], x0);
                    x1 = Math.fma(y, buf[s1 + j], x1);
                    x2 = Math.fma(y, buf[s2 + j], x2);
                    x3 = Math.fma(y, buf[s3 + j], x3);
                }
                buf[a0 + lo + d] = x0;
                buf[a1 + lo + d] = x1;
                buf[a2 + lo + d] = x2;
                buf[a3 + lo + d] = x3;
            }
        }
    }

    /**
     * {@link #quad}'s p·V for one row's positions from..valid-1 (those past the quad's shortest row):
     * position j's products continue lane j mod 16's chains (kqv lanes [16 x dv] at acc), in j order.
     */
    private static void tail(float[] vc, KvCache cache, int kh, float[] buf, int s, int acc, int from, int valid, int dv) {
        int full = F.loopBound(dv);
        for (int j = from; j < valid; j++) {
            int vo = cache.valueOffset(j, kh), a = acc + (j & 15) * dv, d = 0;
            FloatVector p = FloatVector.broadcast(F, buf[s + j]);
            for (; d < full; d += L) FloatVector.fromArray(F, vc, vo + d).fma(p, FloatVector.fromArray(F, buf, a + d)).intoArray(buf, a + d);
            for (; d < dv; d++) buf[a + d] = Math.fma(vc[vo + d], buf[s + j], buf[a + d]);
        }
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
