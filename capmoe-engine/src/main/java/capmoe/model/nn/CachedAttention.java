package capmoe.model.nn;

import capmoe.kernels.Parallel;
import capmoe.kernels.ThreadSlot;
import capmoe.routing.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal attention of a step's queries over their sequences' cached keys and values, as blocked
 * GEMMs with the softmax fused in (flash attention's online softmax). Shared by grouped-query
 * attention ({@link MultiHeadAttention}, groups of query heads share a kv head) and DeepSeek's
 * latent attention (one kv head per query head, key width dk != value width dv).
 *
 * <p>The work is split into tasks of one sequence, one kv head and up to {@link #tokensPerTask}
 * consecutive tokens; a task's rows are its (token, query head of the group) pairs, so the
 * group's heads share every key and value load. A task walks the key blocks of {@link KvCache}
 * (positions {@code BLOCK*n .. BLOCK*n+BLOCK-1}) from block 0:
 * <ol>
 *   <li>scores: S[row][j] = q_row · k_j for the block's BLOCK positions, a GEMM with a register
 *       tile of 4 rows x 2 vectors of positions (keys are stored transposed per block, so the
 *       positions sit in the lanes and each score is one fma chain over the key dims);</li>
 *   <li>softmax, per row over its own valid positions (j <= its position: the causal mask):
 *       scale, block max m', rescale factor alpha = exp(m - m'), p_j = exp(s_j - m') in lanes
 *       (0 past the row's position), l = l*alpha + sum p_j (lanes added in one fixed order);</li>
 *   <li>p·v: O[row] = O[row]*alpha + sum_j p_j v_j, a GEMM with a tile of 4 rows x 2 vectors of
 *       value dims; the rows whose causal limit is further go on alone for their last positions;</li>
 *   <li>after its last block, O[row] *= 1/l.</li>
 * </ol>
 * Row independence: the block boundaries are fixed multiples of BLOCK from position 0, and every
 * element of a row goes through the same operations in the same order whichever rows share its
 * tile, task or step (an fma in a lane and {@link Math#fma} give the same bits). So a row's output
 * depends only on its query and its own sequence's cached positions 0..p: a decode step gives
 * exactly the bits the same row got in a prefill, alone or in any batch, on any thread count.
 *
 * <p>The online softmax follows FlashAttention-2 (Dao 2023, Algorithm 1); llama.cpp's CPU
 * flash-attention path ({@code ggml/src/ggml-cpu/ops.cpp}, {@code ggml_compute_forward_flash_attn_ext_f16_one_chunk})
 * keeps the same running max and sum per row, one key at a time.
 */
public final class CachedAttention {
    private CachedAttention() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final int BLOCK = KvCache.BLOCK;
    /** {@link VectorMath#sum}'s shuffles, lane i to i^d (null where d >= L), for {@link #softmax}. */
    private static final VectorShuffle<Float> SWAP8 = swap(8), SWAP4 = swap(4), SWAP2 = swap(2), SWAP1 = swap(1);

    private static VectorShuffle<Float> swap(int d) {
        return d < L ? VectorShuffle.fromOp(F, i -> i ^ d) : null;
    }
    /** Rows a task holds at most (tokens x the group's query heads), unless one token has more heads. */
    private static final int ROWS_PER_TASK = 16;

    static {
        if (BLOCK % (2 * L) != 0) {
            throw new ExceptionInInitializerError("KvCache.BLOCK=" + BLOCK + " must be a multiple of two vectors of " + L + " floats");
        }
    }

    /** Query tokens per task for {@code group} query heads per kv head. */
    static int tokensPerTask(int group) {
        return Math.max(1, ROWS_PER_TASK / group);
    }

    /**
     * Every (token, query head) of {@code batch} attends over its sequence's cache positions
     * 0..position (this step's keys and values already in {@code cache}).
     *
     * @param q        queries [T x qWidth], head h at h*dk (dk = cache.keyDim())
     * @param heads    query heads; a multiple of cache.heads(), head h uses kv head h / (heads / kvHeads)
     * @param scale    the softmax scale applied to q·k
     * @param out      [T x outWidth], head h written at h*dv (dv = cache.valueDim())
     * @param scratch  the step's buffers ({@link Scratch.Buffer#SCORES})
     */
    public static void attend(Batch batch, KvCache cache, float[] q, int qWidth, int heads, float scale,
                              float[] out, int outWidth, Scratch scratch) {
        int kvHeads = cache.heads(), group = heads / kvHeads, tq = tokensPerTask(group), rows = tq * group;
        int dk = cache.keyDim(), dv = cache.valueDim();
        int tasks = 0;
        long work = 0;
        for (int b = 0; b < batch.sequences(); b++) {
            int n = batch.start()[b + 1] - batch.start()[b];
            tasks += (n + tq - 1) / tq * kvHeads;
            work += (long) n * (batch.past()[b] + n) * heads * (dk + dv);
        }
        if (tasks == 0) return;
        Parallel team = Parallel.current();
        int chunks = team.tasks(work, tasks) > 1 ? Math.min(tasks, 4 * team.threads()) : 1;
        int per = rows * BLOCK + 3 * rows;
        float[] buf = scratch.get(Scratch.Buffer.SCORES, chunks * per);
        Chunks body = CHUNKS.take();
        body.set(batch, cache, q, qWidth, heads, scale, out, outWidth, buf, tasks, chunks);
        try {
            team.forEach(chunks, body);
        } finally {
            body.set(null, null, null, 0, 0, 0f, null, 0, null, 0, 0);
            CHUNKS.put(body);
        }
    }

    /**
     * Per calling thread: {@link #attend}'s phase body and its arguments, reused by the next call (a
     * decode step allocates no lambda here), taken out of the slot while a call runs.
     */
    private static final ThreadSlot<Chunks> CHUNKS = new ThreadSlot<>(Chunks::new);

    /** {@link #attend}'s phase: chunk c of the (tokens, kv head) tasks, over one call's arguments. */
    private static final class Chunks implements Parallel.Task {
        private Batch batch;
        private KvCache cache;
        private float[] q, out, buf;
        private int qWidth, outWidth, kvHeads, group, tq, rows, dk, dv, per, tasks, chunks;
        private float scale;

        void set(Batch batch, KvCache cache, float[] q, int qWidth, int heads, float scale, float[] out, int outWidth,
                 float[] buf, int tasks, int chunks) {
            this.batch = batch;
            this.cache = cache;
            this.q = q;
            this.qWidth = qWidth;
            this.scale = scale;
            this.out = out;
            this.outWidth = outWidth;
            this.buf = buf;
            this.tasks = tasks;
            this.chunks = chunks;
            if (cache == null) return;
            kvHeads = cache.heads();
            group = heads / kvHeads;
            tq = tokensPerTask(group);
            rows = tq * group;
            dk = cache.keyDim();
            dv = cache.valueDim();
            per = rows * BLOCK + 3 * rows;
        }

        @Override
        public void run(int c) {
            // strided: chunk c takes tasks c, c + chunks, ... (later tokens cost more; striding evens that out)
            for (int task = c; task < tasks; task += chunks) {
                int rest = task;
                for (int b = 0; ; b++) {
                    int n = batch.start()[b + 1] - batch.start()[b], here = (n + tq - 1) / tq * kvHeads;
                    if (rest < here) {
                        int i0 = batch.start()[b] + rest / kvHeads * tq;
                        task(batch, cache, b, i0, Math.min(i0 + tq, batch.start()[b + 1]), rest % kvHeads, group,
                                q, qWidth, dk, out, outWidth, dv, scale, buf, c * per, rows);
                        break;
                    }
                    rest -= here;
                }
            }
        }
    }

    /** Tokens [i0, i1) of sequence b (consecutive positions) x the query heads of kv head kh. */
    private static void task(Batch batch, KvCache cache, int b, int i0, int i1, int kh, int group,
                             float[] q, int qWidth, int dk, float[] out, int outWidth, int dv, float scale,
                             float[] buf, int base, int maxRows) {
        int rows = (i1 - i0) * group, first = batch.position()[i0], last = batch.position()[i1 - 1];
        int mo = base + maxRows * BLOCK, lo = mo + maxRows, ao = lo + maxRows;   // running max, sum, this block's alpha
        float[] kc = cache.keys(b), vc = cache.values(b);
        for (int r = 0; r < rows; r++) {
            int oo = outOffset(r, i0, kh, group, outWidth, dv);
            java.util.Arrays.fill(out, oo, oo + dv, 0f);
            buf[mo + r] = Float.NEGATIVE_INFINITY;
            buf[lo + r] = 0f;
        }
        for (int kb = 0; kb <= last / BLOCK; kb++) {
            int start = kb * BLOCK;
            int rs = first >= start ? 0 : (start - first) * group;          // rows before rs end before this block
            int kBase = cache.keyOffset(start, kh), vBase = cache.valueOffset(start, kh);
            int r = rs;
            for (; r + 4 <= rows; r += 4) {
                scores4(q, qOffset(r, i0, kh, group, qWidth, dk), qOffset(r + 1, i0, kh, group, qWidth, dk),
                        qOffset(r + 2, i0, kh, group, qWidth, dk), qOffset(r + 3, i0, kh, group, qWidth, dk),
                        dk, kc, kBase, buf, base + r * BLOCK);
            }
            for (; r < rows; r++) scores1(q, qOffset(r, i0, kh, group, qWidth, dk), dk, kc, kBase, buf, base + r * BLOCK);
            for (r = rs; r < rows; r++) {
                int n = valid(first + r / group, start);
                softmax(buf, base + r * BLOCK, n, scale, mo + r, lo + r, ao + r);
            }
            for (r = rs; r + 4 <= rows; r += 4) {
                int n0 = valid(first + r / group, start);                        // the fewest of the four (earliest token)
                int o0 = outOffset(r, i0, kh, group, outWidth, dv), o1 = outOffset(r + 1, i0, kh, group, outWidth, dv);
                int o2 = outOffset(r + 2, i0, kh, group, outWidth, dv), o3 = outOffset(r + 3, i0, kh, group, outWidth, dv);
                int so = base + r * BLOCK;
                pv4(buf, so, n0, vc, vBase, dv, out, o0, o1, o2, o3,
                        buf[ao + r], buf[ao + r + 1], buf[ao + r + 2], buf[ao + r + 3]);
                for (int i = 1; i < 4; i++) {
                    int n = valid(first + (r + i) / group, start);
                    if (n > n0) pvRest(buf, so + i * BLOCK, n0, n, vc, vBase, dv, out, outOffset(r + i, i0, kh, group, outWidth, dv));
                }
            }
            for (; r < rows; r++) {
                int n = valid(first + r / group, start);
                pv1(buf, base + r * BLOCK, n, vc, vBase, dv, out, outOffset(r, i0, kh, group, outWidth, dv), buf[ao + r]);
            }
        }
        for (int r = 0; r < rows; r++) scaleRow(out, outOffset(r, i0, kh, group, outWidth, dv), dv, 1f / buf[lo + r]);
    }

    /** Positions of block {@code start} that a query at position p sees (1..BLOCK; <= 0 means none). */
    private static int valid(int p, int start) {
        return Math.min(BLOCK, p + 1 - start);
    }

    private static int qOffset(int r, int i0, int kh, int group, int qWidth, int dk) {
        return (i0 + r / group) * qWidth + (kh * group + r % group) * dk;
    }

    private static int outOffset(int r, int i0, int kh, int group, int outWidth, int dv) {
        return (i0 + r / group) * outWidth + (kh * group + r % group) * dv;
    }

    /** Scores of 4 query rows against one key block (keys [dk][BLOCK] at kBase), into s[so + r*BLOCK + j]. */
    private static void scores4(float[] q, int q0, int q1, int q2, int q3, int dk, float[] kc, int kBase, float[] s, int so) {
        for (int vg = 0; vg < BLOCK; vg += 2 * L) {
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int c = 0, ko = kBase + vg; c < dk; c++, ko += BLOCK) {
                FloatVector k0 = FloatVector.fromArray(F, kc, ko), k1 = FloatVector.fromArray(F, kc, ko + L);
                FloatVector b = FloatVector.broadcast(F, q[q0 + c]);
                a00 = k0.fma(b, a00);
                a01 = k1.fma(b, a01);
                b = FloatVector.broadcast(F, q[q1 + c]);
                a10 = k0.fma(b, a10);
                a11 = k1.fma(b, a11);
                b = FloatVector.broadcast(F, q[q2 + c]);
                a20 = k0.fma(b, a20);
                a21 = k1.fma(b, a21);
                b = FloatVector.broadcast(F, q[q3 + c]);
                a30 = k0.fma(b, a30);
                a31 = k1.fma(b, a31);
            }
            a00.intoArray(s, so + vg);
            a01.intoArray(s, so + vg + L);
            a10.intoArray(s, so + BLOCK + vg);
            a11.intoArray(s, so + BLOCK + vg + L);
            a20.intoArray(s, so + 2 * BLOCK + vg);
            a21.intoArray(s, so + 2 * BLOCK + vg + L);
            a30.intoArray(s, so + 3 * BLOCK + vg);
            a31.intoArray(s, so + 3 * BLOCK + vg + L);
        }
    }

    /** {@link #scores4} for one row (the same fma chain per score). */
    private static void scores1(float[] q, int q0, int dk, float[] kc, int kBase, float[] s, int so) {
        for (int vg = 0; vg < BLOCK; vg += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            for (int c = 0, ko = kBase + vg; c < dk; c++, ko += BLOCK) {
                FloatVector b = FloatVector.broadcast(F, q[q0 + c]);
                a0 = FloatVector.fromArray(F, kc, ko).fma(b, a0);
                a1 = FloatVector.fromArray(F, kc, ko + L).fma(b, a1);
            }
            a0.intoArray(s, so + vg);
            a1.intoArray(s, so + vg + L);
        }
    }

    /**
     * One row's online-softmax step over its n valid scores at s[so..so+n): scales them, updates
     * the running max (buf[mo]) and sum (buf[lo]), stores alpha = exp(old max - new max) at buf[ao]
     * and overwrites the scores with p_j = exp(s_j - new max) (the whole block, in lanes).
     */
    private static void softmax(float[] s, int so, int n, float scale, int mo, int lo, int ao) {
        float bm = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < BLOCK; j += L) {
            FloatVector x = FloatVector.fromArray(F, s, so + j).mul(scale);
            x.intoArray(s, so + j);
            bm = Math.max(bm, x.reduceLanes(VectorOperators.MAX, F.indexInRange(j, n)));   // max: any order, the same value
        }
        float m = s[mo], mNew = Math.max(m, bm), alpha = (float) Math.exp(m - mNew);
        FloatVector sum = FloatVector.zero(F);
        for (int j = 0; j < BLOCK; j += L) {
            FloatVector p = exp(FloatVector.fromArray(F, s, so + j).sub(mNew)).blend(0f, F.indexInRange(j, n).not());
            p.intoArray(s, so + j);
            sum = sum.add(p);
        }
        // VectorMath.sum's fixed pairwise order (lanes i and i^d, d = L/2 .. 1), written out here: passed
        // to that call, which C2 did not inline, the vector was boxed on every add (~68% of a BF16
        // decode step's bytes, scripts/DecodeAllocProfile.java)
        if (L == 16) sum = sum.add(sum.rearrange(SWAP8));
        if (L >= 8 && L <= 16) sum = sum.add(sum.rearrange(SWAP4));
        if (L >= 4 && L <= 16) sum = sum.add(sum.rearrange(SWAP2));
        if (L >= 2 && L <= 16) sum = sum.add(sum.rearrange(SWAP1));
        s[mo] = mNew;
        s[lo] = s[lo] * alpha + (L <= 16 ? sum.lane(0) : VectorMath.sum(sum));
        s[ao] = alpha;
    }

    /**
     * 4 rows' O = O*alpha + sum_{j<n} p_j v_j (p at s[so + r*BLOCK + j], values [BLOCK][dv] at
     * vBase), for the n positions all four see.
     */
    private static void pv4(float[] s, int so, int n, float[] vc, int vBase, int dv, float[] out,
                            int o0, int o1, int o2, int o3, float al0, float al1, float al2, float al3) {
        int col = 0;
        for (; col + 2 * L <= dv; col += 2 * L) {
            FloatVector a00 = FloatVector.fromArray(F, out, o0 + col).mul(al0), a01 = FloatVector.fromArray(F, out, o0 + col + L).mul(al0);
            FloatVector a10 = FloatVector.fromArray(F, out, o1 + col).mul(al1), a11 = FloatVector.fromArray(F, out, o1 + col + L).mul(al1);
            FloatVector a20 = FloatVector.fromArray(F, out, o2 + col).mul(al2), a21 = FloatVector.fromArray(F, out, o2 + col + L).mul(al2);
            FloatVector a30 = FloatVector.fromArray(F, out, o3 + col).mul(al3), a31 = FloatVector.fromArray(F, out, o3 + col + L).mul(al3);
            for (int j = 0, vo = vBase + col; j < n; j++, vo += dv) {
                FloatVector v0 = FloatVector.fromArray(F, vc, vo), v1 = FloatVector.fromArray(F, vc, vo + L);
                FloatVector p = FloatVector.broadcast(F, s[so + j]);
                a00 = v0.fma(p, a00);
                a01 = v1.fma(p, a01);
                p = FloatVector.broadcast(F, s[so + BLOCK + j]);
                a10 = v0.fma(p, a10);
                a11 = v1.fma(p, a11);
                p = FloatVector.broadcast(F, s[so + 2 * BLOCK + j]);
                a20 = v0.fma(p, a20);
                a21 = v1.fma(p, a21);
                p = FloatVector.broadcast(F, s[so + 3 * BLOCK + j]);
                a30 = v0.fma(p, a30);
                a31 = v1.fma(p, a31);
            }
            a00.intoArray(out, o0 + col);
            a01.intoArray(out, o0 + col + L);
            a10.intoArray(out, o1 + col);
            a11.intoArray(out, o1 + col + L);
            a20.intoArray(out, o2 + col);
            a21.intoArray(out, o2 + col + L);
            a30.intoArray(out, o3 + col);
            a31.intoArray(out, o3 + col + L);
        }
        if (col + L <= dv) {
            FloatVector a0 = FloatVector.fromArray(F, out, o0 + col).mul(al0), a1 = FloatVector.fromArray(F, out, o1 + col).mul(al1);
            FloatVector a2 = FloatVector.fromArray(F, out, o2 + col).mul(al2), a3 = FloatVector.fromArray(F, out, o3 + col).mul(al3);
            for (int j = 0, vo = vBase + col; j < n; j++, vo += dv) {
                FloatVector v0 = FloatVector.fromArray(F, vc, vo);
                a0 = v0.fma(FloatVector.broadcast(F, s[so + j]), a0);
                a1 = v0.fma(FloatVector.broadcast(F, s[so + BLOCK + j]), a1);
                a2 = v0.fma(FloatVector.broadcast(F, s[so + 2 * BLOCK + j]), a2);
                a3 = v0.fma(FloatVector.broadcast(F, s[so + 3 * BLOCK + j]), a3);
            }
            a0.intoArray(out, o0 + col);
            a1.intoArray(out, o1 + col);
            a2.intoArray(out, o2 + col);
            a3.intoArray(out, o3 + col);
            col += L;
        }
        if (col < dv) {
            pvTail(s, so, n, vc, vBase, dv, col, out, o0, al0);
            pvTail(s, so + BLOCK, n, vc, vBase, dv, col, out, o1, al1);
            pvTail(s, so + 2 * BLOCK, n, vc, vBase, dv, col, out, o2, al2);
            pvTail(s, so + 3 * BLOCK, n, vc, vBase, dv, col, out, o3, al3);
        }
    }

    /** One row's O = O*alpha + sum_{j<n} p_j v_j (the same operations per element as {@link #pv4}). */
    private static void pv1(float[] s, int so, int n, float[] vc, int vBase, int dv, float[] out, int o0, float al) {
        int col = 0;
        for (; col + 2 * L <= dv; col += 2 * L) {
            FloatVector a0 = FloatVector.fromArray(F, out, o0 + col).mul(al), a1 = FloatVector.fromArray(F, out, o0 + col + L).mul(al);
            for (int j = 0, vo = vBase + col; j < n; j++, vo += dv) {
                FloatVector p = FloatVector.broadcast(F, s[so + j]);
                a0 = FloatVector.fromArray(F, vc, vo).fma(p, a0);
                a1 = FloatVector.fromArray(F, vc, vo + L).fma(p, a1);
            }
            a0.intoArray(out, o0 + col);
            a1.intoArray(out, o0 + col + L);
        }
        if (col < dv) pvTail(s, so, n, vc, vBase, dv, col, out, o0, al);
    }

    /** Columns col..dv of one row: one vector of lanes, then scalars ({@link Math#fma}, the lanes' bits). */
    private static void pvTail(float[] s, int so, int n, float[] vc, int vBase, int dv, int col, float[] out, int o0, float al) {
        if (col + L <= dv) {
            FloatVector a = FloatVector.fromArray(F, out, o0 + col).mul(al);
            for (int j = 0, vo = vBase + col; j < n; j++, vo += dv) a = FloatVector.fromArray(F, vc, vo).fma(FloatVector.broadcast(F, s[so + j]), a);
            a.intoArray(out, o0 + col);
            col += L;
        }
        for (; col < dv; col++) {
            float a = out[o0 + col] * al;
            for (int j = 0; j < n; j++) a = Math.fma(vc[vBase + j * dv + col], s[so + j], a);
            out[o0 + col] = a;
        }
    }

    /** One row's positions from..to-1 after {@link #pv4} did 0..from-1 (no rescale: pv4 applied alpha). */
    private static void pvRest(float[] s, int so, int from, int to, float[] vc, int vBase, int dv, float[] out, int o0) {
        int full = F.loopBound(dv);
        for (int j = from; j < to; j++) {
            int vo = vBase + j * dv;
            FloatVector p = FloatVector.broadcast(F, s[so + j]);
            for (int col = 0; col < full; col += L) {
                FloatVector.fromArray(F, vc, vo + col).fma(p, FloatVector.fromArray(F, out, o0 + col)).intoArray(out, o0 + col);
            }
            for (int col = full; col < dv; col++) out[o0 + col] = Math.fma(vc[vo + col], s[so + j], out[o0 + col]);
        }
    }

    private static void scaleRow(float[] out, int o0, int dv, float inv) {
        int full = F.loopBound(dv);
        for (int col = 0; col < full; col += L) FloatVector.fromArray(F, out, o0 + col).mul(inv).intoArray(out, o0 + col);
        for (int col = full; col < dv; col++) out[o0 + col] *= inv;
    }

    // exp in lanes, Cephes expf's reduction and polynomial (about 1 ulp on [-87, 0]): x = n ln2 + r,
    // |r| <= ln2/2, exp(x) = 2^n * P(r). Only adds, multiplies, fmas and bit moves, so the same bits
    // compiled or interpreted (unlike the Vector API's EXP, whose fallback and intrinsic differ).
    private static final float LOG2E = 1.44269504088896341f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;           // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits

    /** e^x for x in [-87, 0] (below -87: e^-87, far under any sum's last bit here). */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87f);
        FloatVector t = x.fma(LOG2E, ROUND), n = t.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector y = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        y = y.fma(r, FloatVector.broadcast(F, 8.3334519073e-3f));
        y = y.fma(r, FloatVector.broadcast(F, 4.1665795894e-2f));
        y = y.fma(r, FloatVector.broadcast(F, 1.6666665459e-1f));
        y = y.fma(r, FloatVector.broadcast(F, 5.0000001201e-1f));
        y = y.fma(r.mul(r), r).add(1f);
        IntVector bits = t.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND) - 127).lanewise(VectorOperators.LSHL, 23);
        return y.mul(bits.reinterpretAsFloats());
    }
}
