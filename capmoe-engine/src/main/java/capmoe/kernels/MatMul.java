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
 * 2L into [L evens, L odds] and the dot product needs no cross-lane shuffles at all.
 *
 * <p><b>Invariant: row independence.</b> Row r of y is a function of row r of x and of W alone:
 * its bits never depend on how many rows the call has, on which other rows are in it, or on r's
 * position (nor on how columns are split between threads). The data-parallel runtime relies on it
 * (a rank computes its own sequences' rows and must get the single-process bits), as does the
 * expert-parallel one (an expert's rows arrive in batches of any size). Every path therefore
 * accumulates one output the same way, and a new path (tiling, quantised weights, ...) must too:
 * <ol>
 *   <li>BF16: one vector accumulator {@code a} per output, zero at first; per block of 2L
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
    private static final int BLOCK = 2 * L;       // bf16 elements per int vector load
    private static final int ROW_CHUNK = 32;      // rows of x kept hot in cache while W streams
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    public static void matmul(float[] x, int rows, Matrix w, float[] y) {
        matmul(x, rows, w, null, y);
    }

    /** y[r*N + n] = sum_k x[r*K + k] * W[n,k] (+ bias[n]); y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        int n = w.rows(), k = w.cols();
        if (x.length < (long) rows * k || y.length < (long) rows * n) {
            throw new IllegalArgumentException("matmul " + w.name() + ": x has " + x.length + " floats, y " + y.length
                    + ", need " + rows + " x " + k + " and " + rows + " x " + n);
        }
        if (rows == 0) return;
        float[] xs = w.dtype() == DType.BF16 ? permute(x, rows, k) : x;
        Parallel.current().forRange(n, 2, (n0, n1) -> {
            switch (w.dtype()) {
                case BF16 -> bf16(xs, rows, k, w.data(), n, n0, n1, y);
                case F32 -> f32(x, rows, k, w.data(), n, n0, n1, y);
                default -> scalar(x, rows, k, w, n, n0, n1, y);
            }
            if (bias != null) {
                for (int r = 0; r < rows; r++) for (int j = n0; j < n1; j++) y[r * n + j] += bias[j];
            }
        });
    }

    /** Per row, each full block of 2L becomes [x0 x2 .. x(2L-2), x1 x3 .. x(2L-1)]; the tail stays in place. */
    static float[] permute(float[] x, int rows, int k) {
        float[] p = new float[rows * k];
        int full = k / BLOCK * BLOCK;
        for (int r = 0; r < rows; r++) {
            int base = r * k;
            for (int b = 0; b < full; b += BLOCK) {
                for (int i = 0; i < L; i++) {
                    p[base + b + i] = x[base + b + 2 * i];
                    p[base + b + L + i] = x[base + b + 2 * i + 1];
                }
            }
            System.arraycopy(x, base + full, p, base + full, k - full);
        }
        return p;
    }

    private static void bf16(float[] xp, int rows, int k, MemorySegment w, int n, int n0, int n1, float[] y) {
        for (int r0 = 0; r0 < rows; r0 += ROW_CHUNK) {
            int r1 = Math.min(rows, r0 + ROW_CHUNK);
            int j = n0;
            for (; j + 1 < n1; j += 2) {
                int r = r0;
                for (; r + 3 < r1; r += 4) bf16x4x2(xp, r, k, w, j, n, y);
                for (; r < r1; r++) bf16x1x2(xp, r, k, w, j, n, y);
            }
            for (; j < n1; j++) {
                for (int r = r0; r < r1; r++) y[r * n + j] = bf16dot(xp, r * k, w, (long) j * k * 2, k);
            }
        }
    }

    private static void bf16x4x2(float[] xp, int r, int k, MemorySegment w, int j, int n, float[] y) {
        int full = k / BLOCK * BLOCK;
        long w0 = (long) j * k * 2, w1 = w0 + (long) k * 2;
        int x0 = r * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, w, w0 + c * 2L, LE);
            IntVector i1 = IntVector.fromMemorySegment(I, w, w1 + c * 2L, LE);
            FloatVector e0 = i0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector o0 = i0.and(0xFFFF0000).reinterpretAsFloats();
            FloatVector e1 = i1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector o1 = i1.and(0xFFFF0000).reinterpretAsFloats();
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
        y[r * n + j] = VectorMath.sum(a00) + tail(xp, x0, w, w0, full, k);
        y[r * n + j + 1] = VectorMath.sum(a01) + tail(xp, x0, w, w1, full, k);
        y[(r + 1) * n + j] = VectorMath.sum(a10) + tail(xp, x1, w, w0, full, k);
        y[(r + 1) * n + j + 1] = VectorMath.sum(a11) + tail(xp, x1, w, w1, full, k);
        y[(r + 2) * n + j] = VectorMath.sum(a20) + tail(xp, x2, w, w0, full, k);
        y[(r + 2) * n + j + 1] = VectorMath.sum(a21) + tail(xp, x2, w, w1, full, k);
        y[(r + 3) * n + j] = VectorMath.sum(a30) + tail(xp, x3, w, w0, full, k);
        y[(r + 3) * n + j + 1] = VectorMath.sum(a31) + tail(xp, x3, w, w1, full, k);
    }

    private static void bf16x1x2(float[] xp, int r, int k, MemorySegment w, int j, int n, float[] y) {
        int full = k / BLOCK * BLOCK;
        long w0 = (long) j * k * 2, w1 = w0 + (long) k * 2;
        int x0 = r * k;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, w, w0 + c * 2L, LE);
            IntVector i1 = IntVector.fromMemorySegment(I, w, w1 + c * 2L, LE);
            FloatVector xe = FloatVector.fromArray(F, xp, x0 + c), xo = FloatVector.fromArray(F, xp, x0 + c + L);
            a0 = xo.fma(i0.and(0xFFFF0000).reinterpretAsFloats(), xe.fma(i0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a0));
            a1 = xo.fma(i1.and(0xFFFF0000).reinterpretAsFloats(), xe.fma(i1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a1));
        }
        y[r * n + j] = VectorMath.sum(a0) + tail(xp, x0, w, w0, full, k);
        y[r * n + j + 1] = VectorMath.sum(a1) + tail(xp, x0, w, w1, full, k);
    }

    /** One output of one row: the same accumulation chain as {@link #bf16x4x2} (see the class Javadoc). */
    private static float bf16dot(float[] xp, int x0, MemorySegment w, long w0, int k) {
        int full = k / BLOCK * BLOCK;
        FloatVector a = FloatVector.zero(F);
        for (int c = 0; c < full; c += BLOCK) {
            IntVector i0 = IntVector.fromMemorySegment(I, w, w0 + c * 2L, LE);
            FloatVector xe = FloatVector.fromArray(F, xp, x0 + c), xo = FloatVector.fromArray(F, xp, x0 + c + L);
            a = xo.fma(i0.and(0xFFFF0000).reinterpretAsFloats(), xe.fma(i0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), a));
        }
        return VectorMath.sum(a) + tail(xp, x0, w, w0, full, k);
    }

    private static float tail(float[] xp, int x0, MemorySegment w, long w0, int from, int k) {
        float s = 0;
        for (int c = from; c < k; c++) s += xp[x0 + c] * Bf16.toFloat(w.get(Bf16.I16, w0 + c * 2L));
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
