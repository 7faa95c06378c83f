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
 * y = x W^T (+ bias) for Q8_0 / Q4_0 weights ({@link Quantizer}), computed as llama.cpp's CPU backend
 * does: each row of x is first quantized to Q8_0 ({@link #quantizeActivations}), then every
 * (row, weight row) pair is a sum over 32-wide blocks of an exact integer dot product times both
 * blocks' scales — {@code ggml_vec_dot_q8_0_q8_0} and {@code ggml_vec_dot_q4_0_q8_0}
 * (llama.cpp {@code ggml/src/ggml-cpu/quants.c} lines 451 and 225, snapshot 3f545be).
 *
 * <p>Why activations are quantized too (and not kept fp32): it is what makes capmoe's logits on a
 * GGUF file match llama.cpp's to 1e-3 — fp32 activations would differ from llama.cpp by the
 * activation rounding (~0.4% per element at 8 bits), far above 1e-3 after a few layers — and it turns
 * the inner loop into int8×int8 products with int32 sums, half the bytes of bf16 per weight.
 *
 * <p>Steps of {@link #matmul}:
 * <ol>
 *   <li>quantize each row of x to Q8_0 in one scratch pair (int8 values [rows x K], fp16-rounded
 *       scales [rows x K/32]), each row on its own (a row's result never depends on other rows);
 *   <li>split the output columns N over {@link Parallel#current()};
 *   <li>per weight row, for up to 4 rows of x at a time: per block, load the 32 weights once as int
 *       lanes, multiply-add them with each row's int8 values into int lanes (exact), then
 *       {@code acc += float(lanes) · (d_w · d_x)} — llama.cpp's AVX2 form;
 *   <li>sum each accumulator's lanes in {@link VectorMath#sum}'s fixed order, so the bits do not
 *       depend on how many rows were tiled together or on the JIT tier.
 * </ol>
 */
public final class QuantMatMul {
    private QuantMatMul() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** L int8 lanes, widened to L int32 lanes. Null when the vector width does not divide a half block. */
    private static final VectorSpecies<Byte> B = L >= 8 && 16 % L == 0
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L)) : null;
    private static final int QK = Quantizer.BLOCK;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    /**
     * Rows of activations in Q8_0: {@code q[r*k + c]} the int8 value, {@code d[r*k/32 + b]} the
     * block's fp16 scale as a float.
     */
    public record Q8Rows(byte[] q, float[] d, int rows, int k) { }

    /** y[r*N + n] = Σ_k x[r*K + k]·W[n,k] (+ bias[n]) with x rounded to Q8_0 per row; y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        int n = w.rows(), k = w.cols();
        if (!w.dtype().quantized()) throw new IllegalArgumentException("matrix " + w.name() + " is " + w.dtype() + ", not Q8_0/Q4_0");
        if (rows == 0) return;
        Q8Rows a = quantizeActivations(x, rows, k);
        DType format = w.dtype();
        MemorySegment data = w.data();
        Parallel.current().forRange(n, 2, (n0, n1) -> {
            for (int j = n0; j < n1; j++) {
                long wrow = format.bytes((long) j * k);
                int r = 0;
                if (B != null) {
                    for (; r + 3 < rows; r += 4) dot4(format, data, wrow, a, r, k, y, n, j);
                    for (; r < rows; r++) y[r * n + j] = dot1(format, data, wrow, a, r, k);
                } else {
                    for (; r < rows; r++) y[r * n + j] = scalarDot(format, data, wrow, a, r, k);
                }
                if (bias != null) for (int rr = 0; rr < rows; rr++) y[rr * n + j] += bias[j];
            }
        });
    }

    /**
     * Each row of x [rows x k] to Q8_0, as llama.cpp's x86 {@code quantize_row_q8_0}
     * ({@code ggml/src/ggml-cpu/arch/x86/quants.c} line 302): d = amax/127 stored as fp16,
     * q = round-half-even(x · 127/amax).
     */
    public static Q8Rows quantizeActivations(float[] x, int rows, int k) {
        if (k % QK != 0) throw new IllegalArgumentException("Q8_0 activations need a multiple of 32 columns, got " + k);
        byte[] q = new byte[rows * k];
        float[] d = new float[rows * k / QK];
        for (int b = 0; b < d.length; b++) {
            int base = b * QK;
            float amax = 0f;
            for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[base + j]));
            d[b] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
            float id = amax != 0f ? 127f / amax : 0f;
            for (int j = 0; j < QK; j++) q[base + j] = (byte) Math.rint(x[base + j] * id);
        }
        return new Q8Rows(q, d, rows, k);
    }

    private static IntVector widen(ByteVector v) {
        return (IntVector) v.convertShape(VectorOperators.B2I, I, 0);
    }

    private static IntVector xLanes(byte[] q, int at) {
        return widen(ByteVector.fromArray(B, q, at));
    }

    private static FloatVector floats(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    /** Rows r..r+3 of a against weight row j (at byte wrow). */
    private static void dot4(DType format, MemorySegment w, long wrow, Q8Rows a, int r, int k, float[] y, int n, int j) {
        byte[] q = a.q();
        float[] d = a.d();
        int blocks = k / QK, bs = format.blockBytes();
        int x0 = r * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        int s0 = r * blocks, s1 = s0 + blocks, s2 = s1 + blocks, s3 = s2 + blocks;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long wo = wrow + (long) b * bs;
            float dw = Float.float16ToFloat(w.get(I16, wo));
            IntVector i0 = IntVector.zero(I), i1 = IntVector.zero(I), i2 = IntVector.zero(I), i3 = IntVector.zero(I);
            int c0 = b * QK;
            if (format == DType.Q8_0) {
                for (int c = 0; c < QK; c += L) {
                    IntVector wv = widen(ByteVector.fromMemorySegment(B, w, wo + 2 + c, LE));
                    i0 = i0.add(wv.mul(xLanes(q, x0 + c0 + c)));
                    i1 = i1.add(wv.mul(xLanes(q, x1 + c0 + c)));
                    i2 = i2.add(wv.mul(xLanes(q, x2 + c0 + c)));
                    i3 = i3.add(wv.mul(xLanes(q, x3 + c0 + c)));
                }
            } else {
                for (int c = 0; c < QK / 2; c += L) {
                    IntVector v = widen(ByteVector.fromMemorySegment(B, w, wo + 2 + c, LE));
                    IntVector lo = v.and(0x0F).sub(8), hi = v.lanewise(VectorOperators.ASHR, 4).and(0x0F).sub(8);
                    int cl = c0 + c, ch = c0 + QK / 2 + c;
                    i0 = i0.add(lo.mul(xLanes(q, x0 + cl))).add(hi.mul(xLanes(q, x0 + ch)));
                    i1 = i1.add(lo.mul(xLanes(q, x1 + cl))).add(hi.mul(xLanes(q, x1 + ch)));
                    i2 = i2.add(lo.mul(xLanes(q, x2 + cl))).add(hi.mul(xLanes(q, x2 + ch)));
                    i3 = i3.add(lo.mul(xLanes(q, x3 + cl))).add(hi.mul(xLanes(q, x3 + ch)));
                }
            }
            a0 = floats(i0).fma(FloatVector.broadcast(F, dw * d[s0 + b]), a0);
            a1 = floats(i1).fma(FloatVector.broadcast(F, dw * d[s1 + b]), a1);
            a2 = floats(i2).fma(FloatVector.broadcast(F, dw * d[s2 + b]), a2);
            a3 = floats(i3).fma(FloatVector.broadcast(F, dw * d[s3 + b]), a3);
        }
        y[r * n + j] = VectorMath.sum(a0);
        y[(r + 1) * n + j] = VectorMath.sum(a1);
        y[(r + 2) * n + j] = VectorMath.sum(a2);
        y[(r + 3) * n + j] = VectorMath.sum(a3);
    }

    /** Row r of a against weight row j: the same operations as one row of {@link #dot4}. */
    private static float dot1(DType format, MemorySegment w, long wrow, Q8Rows a, int r, int k) {
        byte[] q = a.q();
        float[] d = a.d();
        int blocks = k / QK, bs = format.blockBytes();
        int x0 = r * k, s0 = r * blocks;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long wo = wrow + (long) b * bs;
            float dw = Float.float16ToFloat(w.get(I16, wo));
            IntVector i0 = IntVector.zero(I);
            int c0 = b * QK;
            if (format == DType.Q8_0) {
                for (int c = 0; c < QK; c += L) {
                    IntVector wv = widen(ByteVector.fromMemorySegment(B, w, wo + 2 + c, LE));
                    i0 = i0.add(wv.mul(xLanes(q, x0 + c0 + c)));
                }
            } else {
                for (int c = 0; c < QK / 2; c += L) {
                    IntVector v = widen(ByteVector.fromMemorySegment(B, w, wo + 2 + c, LE));
                    IntVector lo = v.and(0x0F).sub(8), hi = v.lanewise(VectorOperators.ASHR, 4).and(0x0F).sub(8);
                    i0 = i0.add(lo.mul(xLanes(q, x0 + c0 + c))).add(hi.mul(xLanes(q, x0 + c0 + QK / 2 + c)));
                }
            }
            acc = floats(i0).fma(FloatVector.broadcast(F, dw * d[s0 + b]), acc);
        }
        return VectorMath.sum(acc);
    }

    /**
     * Scalar form for vector widths that do not divide a half block: llama.cpp's generic
     * {@code ggml_vec_dot_q8_0_q8_0} / {@code ggml_vec_dot_q4_0_q8_0} ({@code sumf += sumi·(d_w·d_x)}).
     */
    static float scalarDot(DType format, MemorySegment w, long wrow, Q8Rows a, int r, int k) {
        int blocks = k / QK, bs = format.blockBytes();
        float sum = 0f;
        for (int b = 0; b < blocks; b++) {
            long wo = wrow + (long) b * bs;
            float dw = Float.float16ToFloat(w.get(I16, wo));
            int sumi = 0, x0 = r * k + b * QK;
            for (int j = 0; j < QK; j++) {
                int wq;
                if (format == DType.Q8_0) {
                    wq = w.get(ValueLayout.JAVA_BYTE, wo + 2 + j);
                } else {
                    int nib = w.get(ValueLayout.JAVA_BYTE, wo + 2 + (j % 16)) & 0xFF;
                    wq = (j < 16 ? nib & 0x0F : nib >>> 4) - 8;
                }
                sumi += wq * a.q()[x0 + j];
            }
            sum += sumi * (dw * a.d()[r * blocks + b]);
        }
        return sum;
    }
}
