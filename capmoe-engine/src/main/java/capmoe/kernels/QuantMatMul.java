package capmoe.kernels;

import capmoe.weights.Quantizer;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * y = x W^T (+ bias) for Q8_0 / Q4_0 weights, multiplied from their {@link QuantPanels} copy (the
 * float {@link Panels} layout in the block formats' bytes), with each row of x first rounded to
 * Q8_0 as llama.cpp's CPU backend does before {@code ggml_vec_dot_q8_0_q8_0} /
 * {@code ggml_vec_dot_q4_0_q8_0} (llama.cpp {@code ggml/src/ggml-cpu/quants.c} lines 451 and 225,
 * snapshot 3f545be): the activations take the values llama.cpp multiplies.
 *
 * <p>Why activations are quantized too (and not kept fp32): fp32 activations would differ from
 * llama.cpp by the activation rounding (~0.4% per element at 8 bits), far above 1e-3 after a few
 * layers.
 *
 * <p><b>The arithmetic: {@link MatMul}'s chain on the dequantized values.</b> A Q8_0 activation
 * {@code d_x·q_x} (fp16 scale, 8-bit integer) and a weight {@code d_w·q_w} each need at most 8 + 11
 * significant bits, so both are exact fp32 numbers ({@link #dequantizedActivations}; the weights
 * decoded in the lanes), and every output is {@link MatMul}'s single fused multiply-add chain in k
 * order on them:
 * <pre>  c = 0;  for k = 0 .. K-1:  c = fma(x_q[r, k], d_w[j, k/32]·q_w[j, k], c);  y[r, j] = c (+ bias[j])</pre>
 * llama.cpp instead sums each block's integer products exactly and multiplies by {@code d_w·d_x};
 * the two differ by fp32 rounding of the sum (≤ K·2^-24 of Σ|x_q·w|, the tolerance
 * {@code QuantMatMulTest} checks against float64), while the fp32 form lets a prefill decode each
 * weight once per block of rows and run the float path's register tiles.
 *
 * <p>Steps of {@link #matmul}, as {@link MatMul#matmul} does for float panels:
 * <ol>
 *   <li>each row of x to its Q8_0 values in fp32 ({@link #dequantizedActivations}, phase over rows),
 *       at {@link MatMul#stride}'s padded row stride when the rows take the tiles;</li>
 *   <li>{@link #gemm} over the panels, split over {@link Parallel#current()} (whole panels per task):
 *     <ul>
 *       <li>prefill ({@link #TILE_MIN_ROWS} rows or more): per block of {@link #MC} rows, per K block
 *           of {@link #KC} steps, per panel: the panel's K block decoded once to fp32 into this
 *           thread's scratch ({@link #decodeBlock}: exactly d_w·q_w, the F32 {@link Panels} layout)
 *           and {@link MatMul}'s F32 micro-kernels over all the row tiles ({@code MatMul.blockF32},
 *           the path {@code gemmF16} takes for F16 panels); a later K block continues each chain
 *           from the fp32 value in y, which changes no bit;</li>
 *       <li>decode (one row): per pair of panels, {@link #rowQ8} / {@link #rowQ4} decode the
 *           weights in the lanes as they read them (each weight byte read once), into four
 *           independent chains.</li>
 *     </ul>
 * </ol>
 *
 * <p>A matrix in {@link DotMode#REDUCED} goes to {@link QuantDot} instead (llama.cpp's integer dot
 * products and order, native kernels): the dispatch is the first step of {@link #matmul}.
 *
 * <p><b>Row independence</b> ({@link MatMul}'s invariant): both paths run the same chain on the same
 * exact values, so a row's bits never depend on the batch, its position, the path taken or the
 * thread count ({@code QuantMatMulTest} checks decode == prefill bit for bit per row).
 */
public final class QuantMatMul {
    private QuantMatMul() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final int NR = Panels.NR;
    /** L int8 lanes (one half of a panel row), widened to L floats; null when 8·L bits is no vector shape (then weights decode in scalar code, decode included). */
    private static final VectorSpecies<Byte> B = L >= 8 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L)) : null;
    private static final int QK = Quantizer.BLOCK;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final long SCALES = QuantPanels.scaleBytes();
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    /** From this many rows on, decoding a panel's K block to fp32 once and running the tiles beats decoding in the lanes per row. */
    public static final int TILE_MIN_ROWS = 2;
    /** Rows of x per block (as {@link MatMul}'s MC): 240 rows x KC floats of x stay in L2. */
    private static final int MC = 240;
    /** K steps per block: a panel's K block decoded to fp32 is 16 KB (KC rows of NR floats), kept in L1 across the row tiles. */
    static final int KC = Math.max(QK, 16 * 1024 / (4 * NR) / QK * QK);

    /** Per thread: one panel's K block decoded to fp32, [KC x NR] floats in the F32 panel layout. */
    private static final ThreadLocal<MemorySegment> BLOCK = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(4L * KC * NR, 64));
    /** Per thread: one panel's scales as floats, [blocks x NR] (all K/32 blocks for the decode kernels, a K block's for prefill). */
    private static final ThreadLocal<float[]> SCALE = ThreadLocal.withInitial(() -> new float[0]);
    /** Per thread: a decode call's partial last pair of panels, [2 NR] (a kernel never nests). */
    private static final ThreadLocal<float[]> EDGE = ThreadLocal.withInitial(() -> new float[2 * NR]);

    /** y[r*N + n] = Σ_k x_q[r*K + k]·W[n,k] (+ bias[n]), x_q = x rounded to Q8_0 per row; y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        if (!w.dtype().quantized()) throw new IllegalArgumentException("matrix " + w.name() + " is " + w.dtype() + ", not Q8_0/Q4_0");
        if (w.dot() == DotMode.REDUCED) {                        // --dot reduced: llama.cpp's arithmetic, native kernels
            QuantDot.matmul(x, rows, w, bias, y);
            return;
        }
        if (rows == 0) return;
        Call c = Call.SLOT.take();
        try {
            c.run(x, rows, w.quantPanels(), bias, y);
        } finally {
            c.x = c.bias = c.y = null;
            c.p = null;
            Call.SLOT.put(c);
        }
    }

    /**
     * One {@link #matmul} call's state, kept in the calling thread's {@link ThreadSlot} for its next
     * call (a decode step then allocates no per-call arrays or lambdas here): x's Q8_0 values and
     * the two phase bodies with what they read. A nested call (from inside a phase) gets its own.
     */
    private static final class Call implements Parallel.Range {
        static final ThreadSlot<Call> SLOT = new ThreadSlot<>(Call::new);

        /** [rows x xs] x's Q8_0 values in fp32 ({@link #dequantizedActivations}), grown on demand. */
        float[] xq = new float[0];
        /** The first phase's body: rows [r0, r1) of x rounded into xq. */
        final Parallel.Range rounding = this::round;
        // the running call's arguments (cleared after it, so that no matrix or buffer is kept alive)
        float[] x, bias, y;
        QuantPanels p;
        int rows, n, k, xs;

        void run(float[] x, int rows, QuantPanels p, float[] bias, float[] y) {
            int k = p.k(), xs = rows >= TILE_MIN_ROWS ? MatMul.stride(k) : k;
            if (xq.length < rows * xs) xq = new float[Math.max(rows * xs, 2 * xq.length)];
            this.x = x;
            this.rows = rows;
            this.p = p;
            this.bias = bias;
            this.y = y;
            this.n = p.n();
            this.k = k;
            this.xs = xs;
            Parallel pool = Parallel.current();
            pool.forRange(rows, 8, rounding);
            pool.forRange(p.panels(), MatMul.grain(rows, k), this);
        }

        private void round(int r0, int r1) {
            for (int r = r0; r < r1; r++) dequantizedActivations(x, r * k, k, xq, r * xs);
        }

        /** Panels [q0, q1): their columns of y, then the bias. */
        @Override
        public void run(int q0, int q1) {
            int n0 = q0 * NR, n1 = Math.min(n, q1 * NR);
            gemm(xq, 0, xs, rows, p, n0, n1, y, n0, n);
            if (bias != null) {
                for (int r = 0; r < rows; r++) for (int j = n0; j < n1; j++) y[r * n + j] += bias[j];
            }
        }
    }

    /**
     * The kernel on one column range, on the calling thread, as {@link MatMul#gemm} for float panels:
     * for rows r < {@code rows} of x_q (row r at {@code x0 + r*xs}, K = w.k() floats, already
     * rounded to Q8_0 by {@link #dequantizedActivations}) and columns j in [j0, j1) ({@code j0} a
     * multiple of {@link Panels#NR}), {@code y[y0 + r*ys + j - j0] = x_r · W[j]} in the class's order.
     * Grouped kernels ({@code QuantizedExperts}) call it per (expert, rows, column tile).
     */
    public static void gemm(float[] x, int x0, int xs, int rows, QuantPanels w, int j0, int j1, float[] y, int y0, int ys) {
        if (j0 % NR != 0) throw new IllegalArgumentException("gemm: first column " + j0 + " is not a multiple of " + NR);
        int k = w.k();
        boolean q4 = w.dtype() == capmoe.weights.DType.Q4_0;
        MemorySegment data = w.data();
        if (rows < TILE_MIN_ROWS && B != null) {
            decode(x, x0, xs, rows, w, j0, j1, y, y0, ys);
            return;
        }
        int p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        long bs = w.blockBytes();
        float[] s = scaleScratch(KC / QK * NR);
        MemorySegment block = BLOCK.get();
        for (int r0 = 0; r0 < rows; r0 += MC) {
            int m = Math.min(MC, rows - r0);
            for (int c0 = 0; c0 < k; c0 += KC) {
                int kn = Math.min(KC, k - c0);
                for (int q = p; q < pEnd; q++) {
                    int col = q * NR;
                    scales(data, w.offset(q, c0 / QK), bs, kn / QK, s, 0);
                    decodeBlock(data, w.offset(q, c0 / QK), kn / QK, bs, q4, s, block);
                    MatMul.blockF32(x, x0 + r0 * xs + c0, xs, m, kn, block, 0, c0 > 0, y, y0 + r0 * ys + col - j0, ys, Math.min(NR, j1 - col));
                }
            }
        }
    }

    /**
     * {@link #gemm}'s decode path (fewer than {@link #TILE_MIN_ROWS} rows), same arguments: per pair
     * of panels, both panels' scales as floats ({@link #vectorScales}), then per row {@link #rowQ8} /
     * {@link #rowQ4}. Its own method so that its vector code does not grow gemm's prefill path past
     * C2's inlining budget (vector scales there cost prefill about 10%).
     */
    private static void decode(float[] x, int x0, int xs, int rows, QuantPanels w, int j0, int j1, float[] y, int y0, int ys) {
        int k = w.k(), blocks = k / QK;
        boolean q4 = w.dtype() == capmoe.weights.DType.Q4_0;
        MemorySegment data = w.data();
        long bs = w.blockBytes();
        float[] tmp = null;                      // the last, partial pair of panels' outputs [2 NR]
        float[] s = scaleScratch(2 * blocks * NR);
        for (int q = j0 / NR, pEnd = (j1 + NR - 1) / NR; q < pEnd; q += 2) {
            // two panels, four chains (both formats); an odd last panel is run as its own pair (same chains twice, the copy ignored)
            int col = q * NR, width = Math.min(2 * NR, j1 - col);
            long wo = w.offset(q, 0), ps = q + 1 < pEnd ? w.offset(q + 1, 0) - wo : 0;
            vectorScales(data, wo, bs, blocks, s, 0);
            vectorScales(data, wo + ps, bs, blocks, s, blocks * NR);
            for (int r = 0; r < rows; r++) {
                float[] dst = y;
                int d0 = y0 + r * ys + col - j0;
                if (width < 2 * NR) {            // a partial or single last panel: its chains in tmp [2 NR]
                    if (tmp == null) tmp = EDGE.get();
                    dst = tmp;
                    d0 = 0;
                }
                if (q4) rowQ4(x, x0 + r * xs, k, data, wo, ps, bs, s, blocks * NR, dst, d0);
                else rowQ8(x, x0 + r * xs, k, data, wo, ps, bs, s, blocks * NR, dst, d0);
                if (dst == tmp) System.arraycopy(tmp, 0, y, y0 + r * ys + col - j0, width);
            }
        }
    }

    /**
     * The NR fp16 scales of {@code blocks} consecutive blocks of one panel (the first at byte
     * {@code so}, {@code bs} bytes apart) as floats into {@code s[at .. at + blocks·NR)}, column order
     * (the halves' pairing undone). Scalar code for the prefill path on purpose: one conversion per
     * 32 weights, and no vector code here to grow {@link #gemm} past C2's inlining budget (vectors it
     * then fails to keep in registers are boxed on the heap).
     */
    private static void scales(MemorySegment w, long so, long bs, int blocks, float[] s, int at) {
        for (int b = 0; b < blocks; b++, so += bs) {
            for (int i = 0; i < L; i++) {
                s[at + b * NR + i] = Float.float16ToFloat(w.get(HALF, so + 4L * i));
                s[at + b * NR + L + i] = Float.float16ToFloat(w.get(HALF, so + 4L * i + 2));
            }
        }
    }

    /**
     * {@link #scales} in vector code (exact as {@link Float#float16ToFloat}), for {@link #decode}:
     * there, reading each weight once, the scalar conversions took about a quarter of the time.
     */
    private static void vectorScales(MemorySegment w, long so, long bs, int blocks, float[] s, int at) {
        for (int b = 0; b < blocks; b++, so += bs) {
            halves(w, so, false, s, at + b * NR);
            halves(w, so, true, s, at + b * NR + L);
        }
    }

    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final FloatVector TWO_112 = FloatVector.broadcast(F, 0x1p112f);

    /**
     * {@link MatMul#f16ToF32}'s steps (the same operations, so the same exact values) on the L low
     * or high halves of the L ints at byte o of w, stored into {@code s[at .. at+L)} here rather
     * than returned: a vector returned from a call C2 does not inline (decode's inlining budget is
     * spent on {@link #rowQ8} / {@link #rowQ4}) is boxed on the heap, and the returned form cost
     * about 190 KB per olmoe-tiny Q8_0 decode step (scripts/DecodeAllocProfile.java).
     */
    private static void halves(MemorySegment w, long o, boolean high, float[] s, int at) {
        IntVector words = IntVector.fromMemorySegment(I, w, o, LE);
        IntVector h = high ? words.lanewise(VectorOperators.LSHR, 16) : words.and(0xFFFF);
        IntVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector bits = magnitude.reinterpretAsFloats().mul(TWO_112).reinterpretAsInts();
        bits = bits.blend(magnitude.or(0x7F800000), h.and(0x7C00).compare(VectorOperators.EQ, 0x7C00));
        bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().intoArray(s, at);
    }

    /**
     * {@code blocks} consecutive blocks of one panel (the first at byte {@code so}, {@code bs} bytes
     * apart; their scales already in {@code s}, {@link #scales}) decoded to their exact fp32 values
     * d·q into {@code dst} as F32 panel rows (NR floats per k step, columns in order), for
     * {@code MatMul.blockF32}: Q8_0 {@code q·d}; Q4_0 {@code fma(n, d, −8d)} = (n − 8)·d exactly
     * (both terms and the result are exact fp32 numbers, so the one rounding changes nothing).
     */
    private static void decodeBlock(MemorySegment w, long so, int blocks, long bs, boolean q4, float[] s, MemorySegment dst) {
        if (B == null) {
            scalarBlock(w, so, blocks, bs, q4, s, dst);
            return;
        }
        long o = 0;
        for (int b = 0; b < blocks; b++, so += bs) {
            FloatVector d0 = FloatVector.fromArray(F, s, b * NR), d1 = FloatVector.fromArray(F, s, b * NR + L);
            long q = so + SCALES;
            if (q4) {
                FloatVector m0 = d0.mul(-8f), m1 = d1.mul(-8f);
                for (int c = 0; c < QK; c += 2, o += 8L * NR, q += NR) {
                    ByteVector n0 = bytes(w, q), n1 = bytes(w, q + L);
                    low(n0).fma(d0, m0).intoMemorySegment(dst, o, LE);
                    low(n1).fma(d1, m1).intoMemorySegment(dst, o + 4L * L, LE);
                    high(n0).fma(d0, m0).intoMemorySegment(dst, o + 4L * NR, LE);
                    high(n1).fma(d1, m1).intoMemorySegment(dst, o + 4L * NR + 4L * L, LE);
                }
            } else {
                for (int c = 0; c < QK; c++, o += 4L * NR, q += NR) {
                    q8(w, q).mul(d0).intoMemorySegment(dst, o, LE);
                    q8(w, q + L).mul(d1).intoMemorySegment(dst, o + 4L * L, LE);
                }
            }
        }
    }

    /** {@link #decodeBlock} in scalar code, where no byte vector of L lanes exists (then decode takes this path too). */
    private static void scalarBlock(MemorySegment w, long so, int blocks, long bs, boolean q4, float[] s, MemorySegment dst) {
        for (int b = 0; b < blocks; b++, so += bs) {
            for (int c = 0; c < QK; c++) {
                for (int i = 0; i < NR; i++) {
                    long at = so + SCALES + (long) (q4 ? c / 2 : c) * NR + i;
                    int v = w.get(ValueLayout.JAVA_BYTE, at);
                    int q = q4 ? ((c & 1) == 0 ? v & 0x0F : (v >> 4) & 0x0F) - 8 : v;
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), (long) (b * QK + c) * NR + i, q * s[b * NR + i]);
                }
            }
        }
    }

    /**
     * One row of x_q (k steps at {@code x0 ..}) times two Q8_0 panels ({@code ps} bytes apart, 0 to
     * run one panel twice; K/32 blocks of {@code bs} bytes from byte {@code wo}; panel i's scales at
     * {@code s[i·ss ..]}), decoding each weight in the lanes as it is read, into
     * {@code y[y0 .. y0+2NR)}: per column the class Javadoc's chain, step for step as
     * {@code MatMul.blockF32} runs it on {@link #decodeBlock}'s values. Four independent chains hide
     * the fused multiply-add latency (as {@code MatMul.row1x4}'s eight do for float panels; more
     * panels here grow the loop past C2's inlining budget, and it boxes the vectors it gives up on).
     */
    private static void rowQ8(float[] x, int x0, int k, MemorySegment w, long wo, long ps, long bs, float[] s, int ss, float[] y, int y0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), b0 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        for (int b = 0; b < k / QK; b++, wo += bs) {
            int o = b * NR;
            FloatVector da0 = FloatVector.fromArray(F, s, o), da1 = FloatVector.fromArray(F, s, o + L);
            FloatVector db0 = FloatVector.fromArray(F, s, ss + o), db1 = FloatVector.fromArray(F, s, ss + o + L);
            long q = wo + SCALES;
            for (int c = 0; c < QK; c++, x0++, q += NR) {
                FloatVector v = FloatVector.broadcast(F, x[x0]);
                a0 = v.fma(q8(w, q).mul(da0), a0);
                a1 = v.fma(q8(w, q + L).mul(da1), a1);
                b0 = v.fma(q8(w, q + ps).mul(db0), b0);
                b1 = v.fma(q8(w, q + ps + L).mul(db1), b1);
            }
        }
        a0.intoArray(y, y0); a1.intoArray(y, y0 + L);
        b0.intoArray(y, y0 + NR); b1.intoArray(y, y0 + NR + L);
    }

    /**
     * {@link #rowQ8} for Q4_0 panels (same arguments, same four chains): one load of a row of nibbles
     * serves two k steps, and it is widened to floats once, not once per nibble (eight conversions
     * in the loop grew it past C2's inlining budget, and it boxed the vectors). The byte b = 16h + l
     * (weights (l − 8)·d at the even k step, (h − 8)·d at the odd one), with its top bit flipped and
     * read as a signed int8, is f = 16(h − 8) + l, so, in exact fp32 steps on small integers:
     * <ul>
     *   <li>{@code H = (f/16 − 15/32) + 1.5·2^23} rounds to R + (h − 8) with R = 1.5·2^23
     *       (f/16 − 15/32 = (h − 8) + (l − 7.5)/16 lies within 0.47 of h − 8; the sum's ulp is 1);</li>
     *   <li>odd step: {@code fma(H, d, −R·d)} = (h − 8)·d exactly (R·d is exact, and so is the result);</li>
     *   <li>even step: {@code fma(w_odd, −16, fma(f, d, −8d))} = (f − 8 − 16(h − 8))·d = (l − 8)·d exactly.</li>
     * </ul>
     * Each weight is thus the exact value {@link #decodeBlock} writes, and each chain the class
     * Javadoc's, step for step (the bits of {@code QuantMatMulTest}'s scalar chain).
     */
    private static void rowQ4(float[] x, int x0, int k, MemorySegment w, long wo, long ps, long bs, float[] s, int ss, float[] y, int y0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), b0 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector sixteenth = FloatVector.broadcast(F, 0.0625f), below = FloatVector.broadcast(F, -0.46875f);
        FloatVector rounder = FloatVector.broadcast(F, ROUNDER), minus16 = FloatVector.broadcast(F, -16f);
        for (int b = 0; b < k / QK; b++, wo += bs) {
            int o = b * NR;
            FloatVector da0 = FloatVector.fromArray(F, s, o), da1 = FloatVector.fromArray(F, s, o + L);
            FloatVector db0 = FloatVector.fromArray(F, s, ss + o), db1 = FloatVector.fromArray(F, s, ss + o + L);
            FloatVector ma0 = da0.mul(-8f), ma1 = da1.mul(-8f), mb0 = db0.mul(-8f), mb1 = db1.mul(-8f);
            FloatVector ra0 = da0.mul(-ROUNDER), ra1 = da1.mul(-ROUNDER), rb0 = db0.mul(-ROUNDER), rb1 = db1.mul(-ROUNDER);
            long q = wo + SCALES;
            for (int c = 0; c < QK; c += 2, x0 += 2, q += NR) {
                FloatVector f0 = flipped(w, q), f1 = flipped(w, q + L), f2 = flipped(w, q + ps), f3 = flipped(w, q + ps + L);
                // odd step's weights (h − 8)·d, from H = R + (h − 8)
                FloatVector h0 = f0.fma(sixteenth, below).add(rounder).fma(da0, ra0), h1 = f1.fma(sixteenth, below).add(rounder).fma(da1, ra1);
                FloatVector h2 = f2.fma(sixteenth, below).add(rounder).fma(db0, rb0), h3 = f3.fma(sixteenth, below).add(rounder).fma(db1, rb1);
                FloatVector v = FloatVector.broadcast(F, x[x0]);
                a0 = v.fma(h0.fma(minus16, f0.fma(da0, ma0)), a0);
                a1 = v.fma(h1.fma(minus16, f1.fma(da1, ma1)), a1);
                b0 = v.fma(h2.fma(minus16, f2.fma(db0, mb0)), b0);
                b1 = v.fma(h3.fma(minus16, f3.fma(db1, mb1)), b1);
                v = FloatVector.broadcast(F, x[x0 + 1]);
                a0 = v.fma(h0, a0);
                a1 = v.fma(h1, a1);
                b0 = v.fma(h2, b0);
                b1 = v.fma(h3, b1);
            }
        }
        a0.intoArray(y, y0); a1.intoArray(y, y0 + L);
        b0.intoArray(y, y0 + NR); b1.intoArray(y, y0 + NR + L);
    }

    /** The L Q4_0 bytes at o (half a panel row) with the top bit flipped, as signed int8 floats: 16(h − 8) + l ({@link #rowQ4}). */
    private static FloatVector flipped(MemorySegment w, long o) {
        return (FloatVector) bytes(w, o).lanewise(VectorOperators.XOR, (byte) 0x80).convertShape(VectorOperators.B2F, F, 0);
    }

    /** The L bytes at o (half a panel row). */
    private static ByteVector bytes(MemorySegment w, long o) {
        return ByteVector.fromMemorySegment(B, w, o, LE);
    }

    /** The L int8 q at byte o (half a Q8_0 panel row) as floats. */
    private static FloatVector q8(MemorySegment w, long o) {
        return (FloatVector) bytes(w, o).convertShape(VectorOperators.B2F, F, 0);
    }

    /** The low nibbles n (0..15) of L bytes, as floats: a Q4_0 row's even k step. */
    private static FloatVector low(ByteVector v) {
        return (FloatVector) v.and((byte) 0x0F).convertShape(VectorOperators.B2F, F, 0);
    }

    /** The high nibbles of L bytes (a logical shift of the unsigned byte), as floats: the odd k step. */
    private static FloatVector high(ByteVector v) {
        return (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.B2F, F, 0);
    }

    /** This thread's scale scratch of at least n floats. */
    private static float[] scaleScratch(int n) {
        float[] s = SCALE.get();
        if (s.length < n) SCALE.set(s = new float[n]);
        return s;
    }

    /**
     * Row {@code [xo, xo+k)} of x rounded to Q8_0 and written back as the exact fp32 values
     * {@code d·q} into {@code out[oo ..]} (may be x itself), as llama.cpp's x86 {@code quantize_row_q8_0}
     * ({@code ggml/src/ggml-cpu/arch/x86/quants.c} line 302) rounds: per block of 32,
     * d = fp16(amax/127), q = round-half-even(x · 127/amax).
     */
    public static void dequantizedActivations(float[] x, int xo, int k, float[] out, int oo) {
        if (k % QK != 0) throw new IllegalArgumentException("Q8_0 activations need a multiple of 32 columns, got " + k);
        for (int b = 0; b < k; b += QK) {
            FloatVector m = FloatVector.zero(F);
            for (int c = 0; c < QK; c += L) m = m.max(FloatVector.fromArray(F, x, xo + b + c).abs());
            float amax = m.reduceLanes(VectorOperators.MAX);           // a maximum: the same in any order
            float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
            float id = amax != 0f ? 127f / amax : 0f;
            for (int c = 0; c < QK; c += L) {
                FloatVector v = FloatVector.fromArray(F, x, xo + b + c).mul(id);
                // round half to even (Math.rint) for |v| <= 2^22: adding and removing 1.5·2^23 leaves the integer part
                v.add(ROUNDER).sub(ROUNDER).mul(d).intoArray(out, oo + b + c);
            }
        }
    }

    /** 1.5·2^23: v + ROUNDER − ROUNDER rounds v (|v| <= 2^22) to the nearest integer, ties to even, in fp32's default rounding. */
    private static final float ROUNDER = 0x1.8p23f;

    /**
     * The scalar form of the class's chain for one output: row x_q [x0, x0+K) (already Q8_0 values)
     * against weight row j as the panels store it. Tests compare both paths to it bit for bit.
     */
    public static float reference(float[] xq, int x0, QuantPanels w, int j) {
        float c = 0;
        for (int i = 0; i < w.k(); i++) c = Math.fma(xq[x0 + i], w.get(j, i), c);
        return c;
    }
}
