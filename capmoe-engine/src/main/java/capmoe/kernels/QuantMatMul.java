package capmoe.kernels;

import capmoe.routing.VectorMath;
import capmoe.weights.DType;
import capmoe.weights.Quantizer;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * y = x W^T (+ bias) for Q8_0 / Q4_0 weights ({@link Quantizer}), with each row of x first rounded
 * to Q8_0 as llama.cpp's CPU backend does before {@code ggml_vec_dot_q8_0_q8_0} /
 * {@code ggml_vec_dot_q4_0_q8_0} (llama.cpp {@code ggml/src/ggml-cpu/quants.c} lines 451 and 225,
 * snapshot 3f545be): the activations take the values llama.cpp multiplies.
 *
 * <p>Why activations are quantized too (and not kept fp32): fp32 activations would differ from
 * llama.cpp by the activation rounding (~0.4% per element at 8 bits), far above 1e-3 after a few
 * layers.
 *
 * <p><b>The arithmetic: dequantized values, fp32 fused multiply-adds.</b> A Q8_0 activation
 * {@code d_x·q_x} (fp16 scale, 8-bit integer) and a weight {@code d_w·q_w} each need at most 8 + 11
 * significant bits, so both are exact fp32 numbers: {@link #dequantizedActivations} and
 * {@link #decode} produce exactly the quantized values, and every output is
 * <pre>  a = 0 (L lanes);  for c = 0, L, 2L, .. K-L:  a = x_f[c..c+L) · w_f[c..c+L) + a  (fused);  y = VectorMath.sum(a)</pre>
 * the fp32 dot product of the two dequantized vectors in one fixed order — the order of
 * {@link MatMul}'s F32 path. llama.cpp instead sums each block's integer products exactly and
 * multiplies by {@code d_w·d_x}; the two differ by fp32 rounding of the sum (≤ K·2^-24 of Σ|x_f·w_f|,
 * the tolerance {@code QuantMatMulTest} checks against float64), while the fp32 form lets a prefill
 * decode a tile of weights to fp32 <em>once</em> and reuse it for every row of the batch.
 *
 * <p><b>Row independence</b> ({@link MatMul}'s invariant): the prefill tiles ({@link #tile}, weights
 * decoded to fp32 by {@link #decode}) and the decode GEMV ({@link #dot}, weights decoded in the
 * lanes as it goes) run the same chain on the same exact values, so a row's bits never depend on
 * the batch, its position, the path taken or the thread count.
 *
 * <p>Steps of {@link #matmul}:
 * <ol>
 *   <li>each row of x to its Q8_0 values in fp32 ({@link #dequantizedActivations}, row by row);
 *   <li>split the output columns N over {@link Parallel#current()} in groups of {@link #COLUMNS};
 *   <li>with fewer than {@link #TILE_MIN_ROWS} rows (decode): {@link #dot} per output, reading
 *       each weight block once, straight from the quantized bytes;
 *   <li>else per group: {@link #decode} its weight rows to fp32 (once), then the {@link #tile}s over
 *       row chunks of {@link #ROW_CHUNK}, four weight rows at a time.
 * </ol>
 */
public final class QuantMatMul {
    private QuantMatMul() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** L int8 lanes, widened to L int32 lanes; null when the vector width does not divide a half block (then blocks decode in scalar code). */
    private static final VectorSpecies<Byte> B = L >= 8 && 16 % L == 0
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L)) : null;
    private static final int QK = Quantizer.BLOCK;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    static {
        if (QK % L != 0) throw new ExceptionInInitializerError("vector width " + L + " does not divide a 32-weight block");
    }

    /** Weight rows decoded together: 16 rows of K = 2048 are 128 KB of fp32, beside a row chunk of x in L2. */
    public static final int COLUMNS = 16;
    /** Rows of x kept hot in cache while a decoded group of weight rows passes over them. */
    private static final int ROW_CHUNK = 32;
    /** From this many rows on, decoding weights to fp32 once beats decoding them in the lanes per row. */
    public static final int TILE_MIN_ROWS = 4;
    /** Rows per register tile ({@link #tile}: 4 rows by 4 weight rows). */
    public static final int TILE_ROWS = 4;

    /** Per thread: x's Q8_0 values [rows x K] of the running call. */
    private static final ThreadLocal<float[]> ACTIVATIONS = new ThreadLocal<>();
    /** Per thread: one group's weight rows decoded to fp32 [COLUMNS x K]. */
    private static final ThreadLocal<float[]> DECODED = new ThreadLocal<>();

    /** y[r*N + n] = Σ_k x_q[r*K + k]·W[n,k] (+ bias[n]), x_q = x rounded to Q8_0 per row; y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        int n = w.rows(), k = w.cols();
        if (!w.dtype().quantized()) throw new IllegalArgumentException("matrix " + w.name() + " is " + w.dtype() + ", not Q8_0/Q4_0");
        if (rows == 0) return;
        float[] xf = ACTIVATIONS.get();
        ACTIVATIONS.remove();                    // taken while in use, so a nested call gets its own
        if (xf == null || xf.length < rows * k) xf = new float[rows * k];
        float[] xq = xf;
        try {
            Parallel pool = Parallel.current();
            pool.forRange(rows, 1, (r0, r1) -> {
                for (int r = r0; r < r1; r++) dequantizedActivations(x, r * k, k, xq, r * k);
            });
            pool.forRange(n, rows < TILE_MIN_ROWS ? 2 : COLUMNS, (n0, n1) -> {
                if (rows < TILE_MIN_ROWS) {
                    for (int j = n0; j < n1; j++) for (int r = 0; r < rows; r++) y[r * n + j] = dot(xq, r * k, k, w, j);
                } else {
                    columns(xq, rows, k, w, n, n0, n1, y);
                }
                if (bias != null) {
                    for (int r = 0; r < rows; r++) for (int j = n0; j < n1; j++) y[r * n + j] += bias[j];
                }
            });
        } finally {
            ACTIVATIONS.set(xq);
        }
    }

    private static void columns(float[] xf, int rows, int k, Matrix w, int n, int n0, int n1, float[] y) {
        float[] wf = decodedScratch(COLUMNS * k);
        float[] out = new float[TILE_OUT];
        for (int j0 = n0; j0 < n1; j0 += COLUMNS) {
            int j1 = Math.min(n1, j0 + COLUMNS);
            for (int j = j0; j < j1; j++) decode(w, j, wf, (j - j0) * k);
            for (int r0 = 0; r0 < rows; r0 += ROW_CHUNK) {
                int r1 = Math.min(rows, r0 + ROW_CHUNK);
                for (int j = j0; j < j1; j += 4) {
                    int last = j1 - 1 - j0, c = j - j0;               // a ragged last group repeats its last row
                    for (int r = r0; r < r1; r += TILE_ROWS) {
                        int m = Math.min(TILE_ROWS, r1 - r);
                        tile(xf, r * k, k, m, k, wf, c * k, Math.min(c + 1, last) * k, Math.min(c + 2, last) * k, Math.min(c + 3, last) * k, out);
                        for (int i = 0; i < m; i++) {
                            for (int q = 0; q < 4 && j + q < j1; q++) y[(r + i) * n + j + q] = out[4 * i + q];
                        }
                    }
                }
            }
        }
    }

    /** This thread's decoded-weights scratch of at least {@code size} floats (kept for the thread's next group). */
    public static float[] decodedScratch(int size) {
        float[] wf = DECODED.get();
        if (wf == null || wf.length < size) {
            wf = new float[size];
            DECODED.set(wf);
        }
        return wf;
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

    /** Weight row j of w (Q8_0/Q4_0) as its exact fp32 values into {@code out[at .. at+K)}. */
    public static void decode(Matrix w, int j, float[] out, int at) {
        DType format = w.dtype();
        int k = w.cols(), bs = format.blockBytes();
        MemorySegment data = w.data();
        long row = format.bytes((long) j * k);
        for (int b = 0; b < k / QK; b++) {
            long wo = row + (long) b * bs;
            float dw = Float.float16ToFloat(data.get(I16, wo));
            if (B == null) {
                scalarBlock(format, data, wo, dw, out, at + b * QK);
                continue;
            }
            FloatVector scale = FloatVector.broadcast(F, dw);
            for (int c = 0; c < QK; c += L) weights(format, data, wo, c, scale).intoArray(out, at + b * QK + c);
        }
    }

    /** Weights c..c+L of the block at byte wo, times its scale: exact fp32 (see the class Javadoc). */
    private static FloatVector weights(DType format, MemorySegment w, long wo, int c, FloatVector scale) {
        IntVector q;
        if (format == DType.Q8_0) {
            q = widen(ByteVector.fromMemorySegment(B, w, wo + 2 + c, LE));
        } else {
            IntVector v = widen(ByteVector.fromMemorySegment(B, w, wo + 2 + c % (QK / 2), LE));
            q = (c < QK / 2 ? v.and(0x0F) : v.lanewise(VectorOperators.ASHR, 4).and(0x0F)).sub(8);
        }
        return ((FloatVector) q.convert(VectorOperators.I2F, 0)).mul(scale);
    }

    private static IntVector widen(ByteVector v) {
        return (IntVector) v.convertShape(VectorOperators.B2I, I, 0);
    }

    /** One block's weights into out[at .. at+32), in scalar code (ggml's dequantize_row_q8_0/q4_0). */
    private static void scalarBlock(DType format, MemorySegment w, long wo, float dw, float[] out, int at) {
        for (int j = 0; j < QK; j++) {
            int q;
            if (format == DType.Q8_0) {
                q = w.get(ValueLayout.JAVA_BYTE, wo + 2 + j);
            } else {
                int nib = w.get(ValueLayout.JAVA_BYTE, wo + 2 + j % (QK / 2)) & 0xFF;
                q = (j < QK / 2 ? nib & 0x0F : nib >>> 4) - 8;
            }
            out[at + j] = q * dw;
        }
    }

    /**
     * One output: x_f [x0, x0+k) (Q8_0 values, {@link #dequantizedActivations}) against weight row j
     * of w, decoding each block in the lanes as it is read — the GEMV of a decode step, which reads
     * every weight byte once. The class Javadoc's chain, so equal to {@link #tile}'s bits.
     */
    public static float dot(float[] xf, int x0, int k, Matrix w, int j) {
        DType format = w.dtype();
        int bs = format.blockBytes();
        MemorySegment data = w.data();
        long row = format.bytes((long) j * k);
        FloatVector a = FloatVector.zero(F);
        float[] block = B == null ? new float[QK] : null;
        for (int b = 0; b < k / QK; b++) {
            long wo = row + (long) b * bs;
            float dw = Float.float16ToFloat(data.get(I16, wo));
            int c0 = x0 + b * QK;
            if (B == null) {
                scalarBlock(format, data, wo, dw, block, 0);
                for (int c = 0; c < QK; c += L) a = FloatVector.fromArray(F, xf, c0 + c).fma(FloatVector.fromArray(F, block, c), a);
                continue;
            }
            FloatVector scale = FloatVector.broadcast(F, dw);
            for (int c = 0; c < QK; c += L) a = FloatVector.fromArray(F, xf, c0 + c).fma(weights(format, data, wo, c, scale), a);
        }
        return VectorMath.sum(a);
    }

    /** Where {@link #tile}'s {@code out} holds the accumulators' lanes (after the 16 results). */
    private static final int LANES = 16;
    /** Floats {@link #tile}'s {@code out} must hold: 16 results, then 16 accumulators' lanes as scratch. */
    public static final int TILE_OUT = LANES + 16 * L;

    /**
     * The lanes {@code a[o .. o+L)} of an accumulator summed exactly as {@link VectorMath#sum} does
     * (pairwise: lanes i and i+d for d = L/2 .. 1; sequential past 16 lanes), in scalar code on the
     * stored lanes: the same bits, without a call per output that C2 declines to inline in a kernel
     * this large ("NodeCountInliningCutoff"), which boxed each accumulator and cost a quarter of the
     * tile's time.
     */
    private static float laneSum(float[] a, int o) {
        if (L > 16) {
            float s = 0f;
            for (int i = 0; i < L; i++) s += a[o + i];
            return s;
        }
        for (int d = L / 2; d >= 1; d >>= 1) {
            for (int i = 0; i < d; i++) a[o + i] = a[o + i] + a[o + i + d];
        }
        return a[o];
    }

    /**
     * A register tile over decoded weights: for {@code rows} (1..{@link #TILE_ROWS}) rows of x_f at
     * {@code x0 + r*stride} and the four decoded weight rows (width k) at {@code wf[o0 ..]} ..
     * {@code wf[o3 ..]} (a row may repeat, its duplicate output ignored), {@code out[4r + c] = x_r · w_c},
     * each in the class Javadoc's chain. Four rows by four weight rows (16 accumulators, 8 loads per 16
     * fused multiply-adds) measured about twice as fast as 8 by 2 (10 loads per 16) on AVX-512.
     * {@code out} holds at least {@link #TILE_OUT} floats (the rest is scratch for the lane sums).
     */
    public static void tile(float[] xf, int x0, int stride, int rows, int k, float[] wf, int o0, int o1, int o2, int o3, float[] out) {
        int r = 0;
        for (; r + 4 <= rows; r += 4) x4x4(xf, x0 + r * stride, stride, k, wf, o0, o1, o2, o3, out, 4 * r);
        for (; r < rows; r++) x1x4(xf, x0 + r * stride, k, wf, o0, o1, o2, o3, out, 4 * r);
    }

    private static void x4x4(float[] x, int x0, int s, int k, float[] w, int o0, int o1, int o2, int o3, float[] out, int at) {
        int x1 = x0 + s, x2 = x1 + s, x3 = x2 + s;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F), a33 = FloatVector.zero(F);
        for (int c = 0; c < k; c += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, o0 + c), w1 = FloatVector.fromArray(F, w, o1 + c);
            FloatVector w2 = FloatVector.fromArray(F, w, o2 + c), w3 = FloatVector.fromArray(F, w, o3 + c);
            FloatVector v = FloatVector.fromArray(F, x, x0 + c);
            a00 = v.fma(w0, a00);
            a01 = v.fma(w1, a01);
            a02 = v.fma(w2, a02);
            a03 = v.fma(w3, a03);
            v = FloatVector.fromArray(F, x, x1 + c);
            a10 = v.fma(w0, a10);
            a11 = v.fma(w1, a11);
            a12 = v.fma(w2, a12);
            a13 = v.fma(w3, a13);
            v = FloatVector.fromArray(F, x, x2 + c);
            a20 = v.fma(w0, a20);
            a21 = v.fma(w1, a21);
            a22 = v.fma(w2, a22);
            a23 = v.fma(w3, a23);
            v = FloatVector.fromArray(F, x, x3 + c);
            a30 = v.fma(w0, a30);
            a31 = v.fma(w1, a31);
            a32 = v.fma(w2, a32);
            a33 = v.fma(w3, a33);
        }
        int l = LANES;
        a00.intoArray(out, l); a01.intoArray(out, l + L); a02.intoArray(out, l + 2 * L); a03.intoArray(out, l + 3 * L);
        a10.intoArray(out, l + 4 * L); a11.intoArray(out, l + 5 * L); a12.intoArray(out, l + 6 * L); a13.intoArray(out, l + 7 * L);
        a20.intoArray(out, l + 8 * L); a21.intoArray(out, l + 9 * L); a22.intoArray(out, l + 10 * L); a23.intoArray(out, l + 11 * L);
        a30.intoArray(out, l + 12 * L); a31.intoArray(out, l + 13 * L); a32.intoArray(out, l + 14 * L); a33.intoArray(out, l + 15 * L);
        for (int q = 0; q < 16; q++) out[at + q] = laneSum(out, l + q * L);
    }

    private static void x1x4(float[] x, int x0, int k, float[] w, int o0, int o1, int o2, int o3, float[] out, int at) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int c = 0; c < k; c += L) {
            FloatVector v = FloatVector.fromArray(F, x, x0 + c);
            a0 = v.fma(FloatVector.fromArray(F, w, o0 + c), a0);
            a1 = v.fma(FloatVector.fromArray(F, w, o1 + c), a1);
            a2 = v.fma(FloatVector.fromArray(F, w, o2 + c), a2);
            a3 = v.fma(FloatVector.fromArray(F, w, o3 + c), a3);
        }
        a0.intoArray(out, LANES); a1.intoArray(out, LANES + L); a2.intoArray(out, LANES + 2 * L); a3.intoArray(out, LANES + 3 * L);
        for (int q = 0; q < 4; q++) out[at + q] = laneSum(out, LANES + q * L);
    }
}
