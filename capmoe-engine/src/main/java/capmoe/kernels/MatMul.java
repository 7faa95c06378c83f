package capmoe.kernels;

import capmoe.routing.VectorMath;
import capmoe.weights.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * y = x W^T (+ bias): x [rows x K] fp32, W [N x K] read in its stored dtype straight from the
 * mapped checkpoint, accumulation in fp32. Parallel over output columns N.
 *
 * <p>BF16 trick: L little-endian ints hold 2L bf16 values; {@code i << 16} gives the even
 * elements as floats and {@code i & 0xFFFF0000} the odd ones. So x is first permuted per block of
 * 2L into [L evens, L odds] and the dot product needs no cross-lane shuffles at all. F16 weights
 * use the same layout and order: {@code i & 0xFFFF} and {@code i >>> 16} are the halves, widened
 * to fp32 exactly in the lanes by {@link #f16ToF32} (not a scalar loop).
 *
 * <p>The register tiles ({@link #tile}: up to 4 rows x 2 weight rows, which may come from two
 * matrices, e.g. an expert's gate and up) are public so that grouped kernels
 * ({@code SwiGluExperts}) share this class's accumulation order instead of copying it.
 *
 * <p><b>Invariant: row independence.</b> Row r of y is a function of row r of x and of W alone:
 * its bits never depend on how many rows the call has, on which other rows are in it, or on r's
 * position (nor on how columns are split between threads). The data-parallel runtime relies on it
 * (a rank computes its own sequences' rows and must get the single-process bits), as does the
 * expert-parallel one (an expert's rows arrive in batches of any size). Every path therefore
 * accumulates one output the same way, and a new path (tiling, quantised weights, ...) must too:
 * <ol>
 *   <li>BF16 and F16: one vector accumulator {@code a} per output, zero at first; per block of 2L
 *       elements at c, {@code a = xo.fma(wOdd, xe.fma(wEven, a))} (evens first, then odds, each a
 *       fused multiply-add); then {@link VectorMath#sum} of a's lanes (fixed pairwise order),
 *       then {@code + tail}: the elements past the last full block summed left to right in
 *       scalar fp32 ({@code s += x*w}, not fused), added last. The 4x2 tile, the 1x2 tile and
 *       the single dot product all follow it.</li>
 *   <li>F32: one accumulator, {@code a = x.fma(w, a)} per vector of L, {@link VectorMath#sum},
 *       then the scalar tail added element by element into that sum.</li>
 *   <li>Other dtypes: scalar {@code s += x*w} from k = 0.</li>
 *   <li>The bias, when given, is added to the finished sum.</li>
 * </ol>
 * {@code KernelsTest.rowIndependence} checks it on random shapes (ragged K and row counts): a row
 * computed alone equals the same row inside a batch at any offset, bit for bit.
 */
public final class MatMul {
    private MatMul() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int L = F.length();      // floats per vector: 8 with AVX2, 16 with AVX-512
    private static final int BLOCK = 2 * L;       // half-precision elements per int vector load
    private static final int ROW_CHUNK = 32;      // rows of x kept hot in cache while W streams
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Per thread: the permuted copy of x (taken while a call uses it, so a nested call gets its own). */
    private static final ThreadLocal<float[]> PERMUTED = new ThreadLocal<>();

    public static void matmul(float[] x, int rows, Matrix w, float[] y) {
        matmul(x, rows, w, null, y);
    }

    /** y[r*N + n] = sum_k x[r*K + k] * W[n,k] (+ bias[n]); y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        int n = w.rows(), k = w.cols();
        check(x, rows, w, y);
        if (rows == 0) return;
        if (w.dtype().quantized()) { QuantMatMul.matmul(x, rows, w, bias, y); return; }
        boolean paired = paired(w.dtype());
        float[] xs = paired ? permuted(x, rows, k) : x;
        try {
            Parallel.current().forRange(n, grain(rows, k), (n0, n1) -> columns(x, xs, rows, w, bias, y, n0, n1));
        } finally {
            if (paired) PERMUTED.set(xs);
        }
    }

    /**
     * y_i = x W_i^T (+ bias_i) for several matrices read with the same x (an attention's q, k and
     * v projections): one permuted copy of x and ONE parallel phase over all their columns instead
     * of a phase per matrix (a decode step's hand-offs are what it waits on). Every output is
     * computed exactly as {@link #matmul(float[], int, Matrix, float[], float[])} computes it, so
     * the bits are the same. Matrices of different widths or dtypes, or quantized ones, run one
     * call each. {@code bias} may be null, or hold nulls.
     */
    public static void matmul(float[] x, int rows, Matrix[] w, float[][] bias, float[][] y) {
        int k = w[0].cols();
        boolean same = true;
        for (Matrix m : w) same &= m.cols() == k && m.dtype() == w[0].dtype() && !m.dtype().quantized();
        if (!same || rows == 0) {
            for (int i = 0; i < w.length; i++) matmul(x, rows, w[i], bias == null ? null : bias[i], y[i]);
            return;
        }
        int[] first = new int[w.length + 1];          // matrix i's columns are [first[i], first[i+1]) of the phase
        for (int i = 0; i < w.length; i++) {
            check(x, rows, w[i], y[i]);
            first[i + 1] = first[i] + w[i].rows();
        }
        boolean paired = paired(w[0].dtype());
        float[] xs = paired ? permuted(x, rows, k) : x;
        try {
            Parallel.current().forRange(first[w.length], grain(rows, k), (c0, c1) -> {
                for (int i = 0; i < w.length; i++) {
                    int n0 = Math.max(c0, first[i]), n1 = Math.min(c1, first[i + 1]);
                    if (n0 < n1) columns(x, xs, rows, w[i], bias == null ? null : bias[i], y[i], n0 - first[i], n1 - first[i]);
                }
            });
        } finally {
            if (paired) PERMUTED.set(xs);
        }
    }

    /** Output columns per task of a matmul phase over rows x k: even, and at least {@link Parallel#MIN_TASK_WORK} multiply-adds. */
    static int grain(int rows, int k) {
        long perColumn = Math.max(1L, (long) rows * k);
        long g = Math.max(2, (Parallel.MIN_TASK_WORK + perColumn - 1) / perColumn);
        return (int) Math.min(1 << 20, (g + 1) & ~1L);
    }

    private static void check(float[] x, int rows, Matrix w, float[] y) {
        int n = w.rows(), k = w.cols();
        if (x.length < (long) rows * k || y.length < (long) rows * n) {
            throw new IllegalArgumentException("matmul " + w.name() + ": x has " + x.length + " floats, y " + y.length
                    + ", need " + rows + " x " + k + " and " + rows + " x " + n);
        }
    }

    /** x's rows permuted ({@link #permute}) into this thread's scratch, taken until the caller puts it back. */
    private static float[] permuted(float[] x, int rows, int k) {
        float[] xs = take(rows * k);
        for (int r = 0; r < rows; r++) permute(x, r * k, k, xs, r * k);
        return xs;
    }

    /** Columns [n0, n1) of y = x W^T (+ bias), on the calling thread; xp is x permuted for the paired dtypes. */
    private static void columns(float[] x, float[] xp, int rows, Matrix w, float[] bias, float[] y, int n0, int n1) {
        int n = w.rows(), k = w.cols();
        switch (w.dtype()) {
            case BF16, F16 -> paired(xp, rows, k, w, n, n0, n1, y);
            case F32 -> f32(x, rows, k, w.data(), n, n0, n1, y);
            default -> scalar(x, rows, k, w, n, n0, n1, y);
        }
        if (bias != null) {
            for (int r = 0; r < rows; r++) for (int j = n0; j < n1; j++) y[r * n + j] += bias[j];
        }
    }

    /** True for the half-precision dtypes read two per int lane (BF16, F16): their x must be {@link #permute}d. */
    public static boolean paired(DType d) {
        return d == DType.BF16 || d == DType.F16;
    }

    /** This thread's permuted-x scratch of at least n floats, taken out of the thread-local slot until put back. */
    private static float[] take(int n) {
        float[] p = PERMUTED.get();
        PERMUTED.remove();
        return p != null && p.length >= n ? p : new float[Math.max(n, p == null ? 0 : p.length * 2)];
    }

    /**
     * One row of width k from x[xo ..] into p[po ..]: each full block of 2L becomes
     * [x0 x2 .. x(2L-2), x1 x3 .. x(2L-1)]; the tail stays in place.
     */
    public static void permute(float[] x, int xo, int k, float[] p, int po) {
        int full = k / BLOCK * BLOCK;
        for (int b = 0; b < full; b += BLOCK) {
            for (int i = 0; i < L; i++) {
                p[po + b + i] = x[xo + b + 2 * i];
                p[po + b + L + i] = x[xo + b + 2 * i + 1];
            }
        }
        System.arraycopy(x, xo + full, p, po + full, k - full);
    }

    /** Where element c of a row of width k sits after {@link #permute}. */
    public static int permutedIndex(int c, int k) {
        int full = k / BLOCK * BLOCK;
        if (c >= full) return c;
        int b = c - c % BLOCK, i = c - b;
        return b + (i & 1) * L + (i >> 1);
    }

    private static void paired(float[] xp, int rows, int k, Matrix w, int n, int n0, int n1, float[] y) {
        float[] out = new float[2 * TILE_ROWS];
        for (int r0 = 0; r0 < rows; r0 += ROW_CHUNK) {
            int r1 = Math.min(rows, r0 + ROW_CHUNK);
            int j = n0;
            for (; j + 1 < n1; j += 2) {
                for (int r = r0; r < r1; r += TILE_ROWS) {
                    int m = Math.min(TILE_ROWS, r1 - r);
                    tile(xp, r * k, k, m, k, w, j, w, j + 1, out);
                    for (int i = 0; i < m; i++) {
                        y[(r + i) * n + j] = out[2 * i];
                        y[(r + i) * n + j + 1] = out[2 * i + 1];
                    }
                }
            }
            for (; j < n1; j++) {
                for (int r = r0; r < r1; r++) y[r * n + j] = dot(xp, r * k, k, w, j);
            }
        }
    }

    /**
     * Rows per register tile: 8 where there are 32 vector registers (AVX-512: 16 accumulators, 4
     * widened weight vectors, 2 of x), else 4. More rows per weight load means fewer widening
     * ops per FMA, and on AVX-512 those share the FMA ports.
     */
    public static final int TILE_ROWS = L >= 16 ? 8 : 4;

    /**
     * A register tile: for {@code rows} (1..{@link #TILE_ROWS}) permuted x rows at
     * {@code x0 + r*stride} and weight rows {@code ja} of {@code a} and {@code jb} of {@code b}
     * (BF16 or F16, both the same dtype, width k), {@code out[2r] = x_r · a[ja]} and
     * {@code out[2r+1] = x_r · b[jb]}, each in the class's accumulation order.
     */
    public static void tile(float[] xp, int x0, int stride, int rows, int k, Matrix a, int ja, Matrix b, int jb, float[] out) {
        boolean f16 = a.dtype() == DType.F16;
        long wa = (long) ja * k * 2, wb = (long) jb * k * 2;
        MemorySegment sa = a.data(), sb = b.data();
        int r = 0;
        if (TILE_ROWS == 8 && rows == 8) {
            x8x2(xp, x0, stride, k, sa, wa, sb, wb, f16, out);
            return;
        }
        for (; r + 4 <= rows; r += 4) x4x2(xp, x0 + r * stride, x0 + (r + 1) * stride, x0 + (r + 2) * stride, x0 + (r + 3) * stride, k, sa, wa, sb, wb, f16, out, 2 * r);
        for (; r < rows; r++) x1x2(xp, x0 + r * stride, k, sa, wa, sb, wb, f16, out, 2 * r);
    }

    private static void x8x2(float[] xp, int x0, int s, int k, MemorySegment sa, long wa, MemorySegment sb, long wb,
                             boolean f16, float[] out) {
        int full = k / BLOCK * BLOCK;
        int x1 = x0 + s, x2 = x1 + s, x3 = x2 + s, x4 = x3 + s, x5 = x4 + s, x6 = x5 + s, x7 = x6 + s;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        FloatVector a40 = FloatVector.zero(F), a41 = FloatVector.zero(F), a50 = FloatVector.zero(F), a51 = FloatVector.zero(F);
        FloatVector a60 = FloatVector.zero(F), a61 = FloatVector.zero(F), a70 = FloatVector.zero(F), a71 = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, sa, wa + c * 2L, LE);
            IntVector i1 = IntVector.fromMemorySegment(I, sb, wb + c * 2L, LE);
            FloatVector e0 = even(i0, f16), o0 = odd(i0, f16), e1 = even(i1, f16), o1 = odd(i1, f16);
            FloatVector xe = FloatVector.fromArray(F, xp, x0 + c), xo = FloatVector.fromArray(F, xp, x0 + c + L);
            a00 = xo.fma(o0, xe.fma(e0, a00));
            a01 = xo.fma(o1, xe.fma(e1, a01));
            xe = FloatVector.fromArray(F, xp, x1 + c); xo = FloatVector.fromArray(F, xp, x1 + c + L);
            a10 = xo.fma(o0, xe.fma(e0, a10));
            a11 = xo.fma(o1, xe.fma(e1, a11));
            xe = FloatVector.fromArray(F, xp, x2 + c); xo = FloatVector.fromArray(F, xp, x2 + c + L);
            a20 = xo.fma(o0, xe.fma(e0, a20));
            a21 = xo.fma(o1, xe.fma(e1, a21));
            xe = FloatVector.fromArray(F, xp, x3 + c); xo = FloatVector.fromArray(F, xp, x3 + c + L);
            a30 = xo.fma(o0, xe.fma(e0, a30));
            a31 = xo.fma(o1, xe.fma(e1, a31));
            xe = FloatVector.fromArray(F, xp, x4 + c); xo = FloatVector.fromArray(F, xp, x4 + c + L);
            a40 = xo.fma(o0, xe.fma(e0, a40));
            a41 = xo.fma(o1, xe.fma(e1, a41));
            xe = FloatVector.fromArray(F, xp, x5 + c); xo = FloatVector.fromArray(F, xp, x5 + c + L);
            a50 = xo.fma(o0, xe.fma(e0, a50));
            a51 = xo.fma(o1, xe.fma(e1, a51));
            xe = FloatVector.fromArray(F, xp, x6 + c); xo = FloatVector.fromArray(F, xp, x6 + c + L);
            a60 = xo.fma(o0, xe.fma(e0, a60));
            a61 = xo.fma(o1, xe.fma(e1, a61));
            xe = FloatVector.fromArray(F, xp, x7 + c); xo = FloatVector.fromArray(F, xp, x7 + c + L);
            a70 = xo.fma(o0, xe.fma(e0, a70));
            a71 = xo.fma(o1, xe.fma(e1, a71));
        }
        out[0] = VectorMath.sum(a00) + tail(xp, x0, sa, wa, full, k, f16);
        out[1] = VectorMath.sum(a01) + tail(xp, x0, sb, wb, full, k, f16);
        out[2] = VectorMath.sum(a10) + tail(xp, x1, sa, wa, full, k, f16);
        out[3] = VectorMath.sum(a11) + tail(xp, x1, sb, wb, full, k, f16);
        out[4] = VectorMath.sum(a20) + tail(xp, x2, sa, wa, full, k, f16);
        out[5] = VectorMath.sum(a21) + tail(xp, x2, sb, wb, full, k, f16);
        out[6] = VectorMath.sum(a30) + tail(xp, x3, sa, wa, full, k, f16);
        out[7] = VectorMath.sum(a31) + tail(xp, x3, sb, wb, full, k, f16);
        out[8] = VectorMath.sum(a40) + tail(xp, x4, sa, wa, full, k, f16);
        out[9] = VectorMath.sum(a41) + tail(xp, x4, sb, wb, full, k, f16);
        out[10] = VectorMath.sum(a50) + tail(xp, x5, sa, wa, full, k, f16);
        out[11] = VectorMath.sum(a51) + tail(xp, x5, sb, wb, full, k, f16);
        out[12] = VectorMath.sum(a60) + tail(xp, x6, sa, wa, full, k, f16);
        out[13] = VectorMath.sum(a61) + tail(xp, x6, sb, wb, full, k, f16);
        out[14] = VectorMath.sum(a70) + tail(xp, x7, sa, wa, full, k, f16);
        out[15] = VectorMath.sum(a71) + tail(xp, x7, sb, wb, full, k, f16);
    }

    private static void x4x2(float[] xp, int x0, int x1, int x2, int x3, int k, MemorySegment sa, long wa, MemorySegment sb, long wb,
                             boolean f16, float[] out, int at) {
        int full = k / BLOCK * BLOCK;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, sa, wa + c * 2L, LE);
            IntVector i1 = IntVector.fromMemorySegment(I, sb, wb + c * 2L, LE);
            FloatVector e0 = even(i0, f16), o0 = odd(i0, f16), e1 = even(i1, f16), o1 = odd(i1, f16);
            FloatVector xe = FloatVector.fromArray(F, xp, x0 + c), xo = FloatVector.fromArray(F, xp, x0 + c + L);
            a00 = xo.fma(o0, xe.fma(e0, a00));
            a01 = xo.fma(o1, xe.fma(e1, a01));
            xe = FloatVector.fromArray(F, xp, x1 + c); xo = FloatVector.fromArray(F, xp, x1 + c + L);
            a10 = xo.fma(o0, xe.fma(e0, a10));
            a11 = xo.fma(o1, xe.fma(e1, a11));
            xe = FloatVector.fromArray(F, xp, x2 + c); xo = FloatVector.fromArray(F, xp, x2 + c + L);
            a20 = xo.fma(o0, xe.fma(e0, a20));
            a21 = xo.fma(o1, xe.fma(e1, a21));
            xe = FloatVector.fromArray(F, xp, x3 + c); xo = FloatVector.fromArray(F, xp, x3 + c + L);
            a30 = xo.fma(o0, xe.fma(e0, a30));
            a31 = xo.fma(o1, xe.fma(e1, a31));
        }
        out[at] = VectorMath.sum(a00) + tail(xp, x0, sa, wa, full, k, f16);
        out[at + 1] = VectorMath.sum(a01) + tail(xp, x0, sb, wb, full, k, f16);
        out[at + 2] = VectorMath.sum(a10) + tail(xp, x1, sa, wa, full, k, f16);
        out[at + 3] = VectorMath.sum(a11) + tail(xp, x1, sb, wb, full, k, f16);
        out[at + 4] = VectorMath.sum(a20) + tail(xp, x2, sa, wa, full, k, f16);
        out[at + 5] = VectorMath.sum(a21) + tail(xp, x2, sb, wb, full, k, f16);
        out[at + 6] = VectorMath.sum(a30) + tail(xp, x3, sa, wa, full, k, f16);
        out[at + 7] = VectorMath.sum(a31) + tail(xp, x3, sb, wb, full, k, f16);
    }

    private static void x1x2(float[] xp, int x0, int k, MemorySegment sa, long wa, MemorySegment sb, long wb, boolean f16,
                             float[] out, int at) {
        int full = k / BLOCK * BLOCK;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, sa, wa + c * 2L, LE);
            IntVector i1 = IntVector.fromMemorySegment(I, sb, wb + c * 2L, LE);
            FloatVector xe = FloatVector.fromArray(F, xp, x0 + c), xo = FloatVector.fromArray(F, xp, x0 + c + L);
            a0 = xo.fma(odd(i0, f16), xe.fma(even(i0, f16), a0));
            a1 = xo.fma(odd(i1, f16), xe.fma(even(i1, f16), a1));
        }
        out[at] = VectorMath.sum(a0) + tail(xp, x0, sa, wa, full, k, f16);
        out[at + 1] = VectorMath.sum(a1) + tail(xp, x0, sb, wb, full, k, f16);
    }

    /** One output of one row, x permuted: the same accumulation chain as {@link #tile} (see the class Javadoc). */
    public static float dot(float[] xp, int x0, int k, Matrix w, int j) {
        boolean f16 = w.dtype() == DType.F16;
        MemorySegment s = w.data();
        long w0 = (long) j * k * 2;
        int full = k / BLOCK * BLOCK;
        FloatVector a = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, s, w0 + c * 2L, LE);
            FloatVector xe = FloatVector.fromArray(F, xp, x0 + c), xo = FloatVector.fromArray(F, xp, x0 + c + L);
            a = xo.fma(odd(i0, f16), xe.fma(even(i0, f16), a));
        }
        return VectorMath.sum(a) + tail(xp, x0, s, w0, full, k, f16);
    }

    /** The even (low) halves of each int lane as fp32. */
    private static FloatVector even(IntVector i, boolean f16) {
        return f16 ? f16ToF32(i.and(0xFFFF)) : i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** The odd (high) halves of each int lane as fp32. */
    private static FloatVector odd(IntVector i, boolean f16) {
        return f16 ? f16ToF32(i.lanewise(VectorOperators.LSHR, 16)) : i.and(0xFFFF0000).reinterpretAsFloats();
    }

    private static final FloatVector TWO_112 = FloatVector.broadcast(F, 0x1p112f);

    /**
     * IEEE half bits (low 16 bits of each lane, the rest zero) to fp32, exactly, as
     * {@link Float#float16ToFloat}: the exponent and mantissa moved into fp32 position are the
     * value times 2^-112 (subnormal halves land on fp32 subnormals, exactly), so one multiply by
     * 2^112 rescales every finite value; infinities and NaNs (exponent 31) get fp32's all-ones
     * exponent; the sign is moved last.
     */
    static FloatVector f16ToF32(IntVector h) {
        IntVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        FloatVector v = magnitude.reinterpretAsFloats().mul(TWO_112);
        IntVector bits = v.reinterpretAsInts();
        bits = bits.blend(magnitude.or(0x7F800000), h.and(0x7C00).compare(VectorOperators.EQ, 0x7C00));
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    private static float tail(float[] xp, int x0, MemorySegment w, long w0, int from, int k, boolean f16) {
        float s = 0;
        for (int c = from; c < k; c++) {
            short bits = w.get(Bf16.I16, w0 + c * 2L);
            s += xp[x0 + c] * (f16 ? Float.float16ToFloat(bits) : Bf16.toFloat(bits));
        }
        return s;
    }

    private static void f32(float[] x, int rows, int k, MemorySegment w, int n, int n0, int n1, float[] y) {
        int full = F.loopBound(k);
        for (int j = n0; j < n1; j++) {
            long w0 = (long) j * k * 4;
            for (int r = 0; r < rows; r++) {
                int x0 = r * k;
                FloatVector a = FloatVector.zero(F);
                for (int c = 0; c < full; c += F.length()) {
                    a = FloatVector.fromArray(F, x, x0 + c).fma(FloatVector.fromMemorySegment(F, w, w0 + c * 4L, LE), a);
                }
                float s = VectorMath.sum(a);
                for (int c = full; c < k; c++) s += x[x0 + c] * w.get(Bf16.F32, w0 + c * 4L);
                y[r * n + j] = s;
            }
        }
    }

    private static void scalar(float[] x, int rows, int k, Matrix w, int n, int n0, int n1, float[] y) {
        float[] row = new float[k];
        for (int j = n0; j < n1; j++) {
            w.row(j, row, 0);
            for (int r = 0; r < rows; r++) {
                float s = 0;
                for (int c = 0; c < k; c++) s += x[r * k + c] * row[c];
                y[r * n + j] = s;
            }
        }
    }
}
