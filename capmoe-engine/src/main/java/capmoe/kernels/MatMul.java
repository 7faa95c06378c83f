package capmoe.kernels;

import capmoe.weights.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * y = x W^T (+ bias): x [rows x K] fp32, W [N x K] in its stored dtype, accumulation in fp32.
 * Float weights (BF16, F16, F32) are multiplied from their {@link Panels} copy (built once per
 * matrix) by a register-tiled kernel; quantized ones go to {@link QuantMatMul}. Parallel over
 * output columns (whole panels per thread).
 *
 * <p>The kernel (BLIS's / llama.cpp's outer-product form): a tile of MR rows x {@link Panels#NR}
 * columns lives in 2·MR vector accumulators; per k it widens one panel row (BF16: one shift and
 * one and; F16: widened per K block first, {@link #gemmF16}; F32: two loads), broadcasts x[r, k] for each of the MR rows and
 * does 2·MR fused multiply-adds. Nothing is summed across lanes, x is read one float per row and k,
 * and the weights once per row tile, contiguously. MR = {@link #TILE_ROWS}. Blocking (BLIS's
 * loops): for 240 rows of x at a time and one K block (16 KB of each panel: 256 BF16 rows), every
 * panel's K block serves all the row tiles from L1 while those rows of x stay in L2; the next K block
 * continues each chain from the fp32 value stored in y, which changes no bit. x is read in place,
 * at a row stride that does not alias in the caches ({@link #stride}). One to three rows
 * (decode) run four panels at once instead, so that eight independent chains hide the FMA latency.
 *
 * <p><b>Invariant: row independence, in one fixed order.</b> Every output element, whatever
 * path computes it (any tile height, the one-row kernel, any thread, any panel position, AVX2 or
 * AVX-512, interpreter or C2), is
 * <pre>  c = 0;  for k = 0 .. K-1:  c = fma(x[r, k], W[j, k], c);  y[r, j] = c (+ bias[j])</pre>
 * a single fused multiply-add chain in k order, each step one IEEE operation that Java defines
 * exactly, so row r of y is a function of row r of x and of W alone: its bits never depend on how
 * many rows the call has, on which other rows are in it, or on r's position. The data-parallel
 * runtime relies on it (a rank computes its own sequences' rows and must get the single-process
 * bits), as does the expert-parallel one (an expert's rows arrive in batches of any size).
 * {@code KernelsTest.matmulRowIsIndependentOfTheOtherRowsAndItsPosition} checks it on random ragged shapes, and
 * {@code GemmTest} checks every path against {@link #reference}, the scalar form of that chain,
 * bit for bit (and against float64 within the stated tolerance). Other dtypes: scalar
 * {@code s += x*w} from k = 0.
 */
public final class MatMul {
    private MatMul() { }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int L = F.length();      // floats per vector: 8 with AVX2, 16 with AVX-512
    private static final int NR = Panels.NR;      // output columns per panel: 2L
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int BF16 = 0, F16 = 1, F32 = 2;
    /** Per thread: the copy of x at a padded row stride ({@link #stride}), taken while a call uses it (a nested call gets its own). */
    private static final ThreadLocal<float[]> PADDED = new ThreadLocal<>();
    /** Rows of x per block (MC, a multiple of every tile height): 240 rows x KC floats of x stay in L2 (240 KB at KC = 256). */
    private static final int MC = 240;
    /** Per thread: the partial last panel's chains, [MC x NR] (a kernel never nests, so one per thread suffices). */
    private static final ThreadLocal<float[]> EDGE = ThreadLocal.withInitial(() -> new float[MC * NR]);
    /** Bytes of one panel's K block (KC rows of a panel), kept in L1 across the row tiles: KC = 256 for BF16/F16, 128 for F32. */
    private static final long KC_BYTES = 16 * 1024;
    /** Per thread: one F16 panel's K block widened to fp32, KC_BYTES ({@link #gemmF16}). */
    private static final ThreadLocal<MemorySegment> F16_BLOCK = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(KC_BYTES, 64));

    /**
     * Rows per register tile (MR): 12 with 32 vector registers (AVX-512: 24 accumulators, 2 weight
     * vectors, 1 broadcast; 94 vs 83 GFLOP/s for 8 rows on one Zen 4 core, m=512 k=n=2048 BF16),
     * else 4 (AVX2: 8 + 2 + 1 of 16). Ragged ends take 8-, 4- and 1-row tiles.
     */
    public static final int TILE_ROWS = L >= 16 ? 12 : 4;

    public static void matmul(float[] x, int rows, Matrix w, float[] y) {
        matmul(x, rows, w, null, y);
    }

    /** y[r*N + n] = sum_k x[r*K + k] * W[n,k] (+ bias[n]); y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        int n = w.rows(), k = w.cols();
        check(x, rows, w, y);
        if (rows == 0) return;
        if (w.dtype().quantized()) { QuantMatMul.matmul(x, rows, w, bias, y); return; }
        if (!Panels.supports(w.dtype())) {
            Parallel.current().forRange(n, 1, (n0, n1) -> scalar(x, rows, k, w, n, n0, n1, bias, y));
            return;
        }
        matmul(x, rows, new Matrix[] {w}, new float[][] {bias}, new float[][] {y});
    }

    /**
     * y_i = x W_i^T (+ bias_i) for several matrices read with the same x (an attention's q, k and
     * v projections): one padded copy of x and ONE parallel phase over all their panels instead
     * of a phase per matrix (a decode step's hand-offs are what it waits on). Every output is
     * computed exactly as {@link #matmul(float[], int, Matrix, float[], float[])} computes it, so
     * the bits are the same. Matrices of different widths, or quantized ones, run one call each.
     * {@code bias} may be null, or hold nulls.
     */
    public static void matmul(float[] x, int rows, Matrix[] w, float[][] bias, float[][] y) {
        int k = w[0].cols();
        boolean same = true;
        for (Matrix m : w) same &= m.cols() == k && Panels.supports(m.dtype());
        if (!same || rows == 0) {
            for (int i = 0; i < w.length; i++) matmul(x, rows, w[i], bias == null ? null : bias[i], y[i]);
            return;
        }
        int[] first = new int[w.length + 1];          // matrix i's panels are [first[i], first[i+1]) of the phase
        Panels[] p = new Panels[w.length];
        for (int i = 0; i < w.length; i++) {
            check(x, rows, w[i], y[i]);
            p[i] = w[i].panels();
            first[i + 1] = first[i] + p[i].panels();
        }
        Parallel pool = Parallel.current();
        int xs = rows >= TILE_ROWS / 2 ? stride(k) : k;
        float[] xp = x;
        if (xs != k) {
            float[] padded = xp = take(rows * xs);
            pool.forRange(rows, 16, (r0, r1) -> {
                for (int r = r0; r < r1; r++) System.arraycopy(x, r * k, padded, r * xs, k);
            });
        }
        float[] xr = xp;
        try {
            pool.forWork(first[w.length], (long) rows * k * NR, (q0, q1) -> {
                for (int i = 0; i < w.length; i++) {
                    int n = w[i].rows();
                    int n0 = (Math.max(q0, first[i]) - first[i]) * NR, n1 = Math.min(n, (Math.min(q1, first[i + 1]) - first[i]) * NR);
                    if (n0 >= n1) continue;
                    gemm(xr, 0, xs, rows, p[i], n0, n1, y[i], n0, n);
                    float[] b = bias == null ? null : bias[i];
                    if (b != null) {
                        for (int r = 0; r < rows; r++) for (int j = n0; j < n1; j++) y[i][r * n + j] += b[j];
                    }
                }
            });
        } finally {
            if (xr != x) PADDED.set(xr);
        }
    }

    /** Panels per task of a matmul phase over rows x k: at least {@link Parallel#MIN_TASK_WORK} multiply-adds. */
    static int grain(int rows, int k) {
        long perPanel = Math.max(1L, (long) rows * k * NR);
        return (int) Math.max(1, Math.min(1 << 20, (Parallel.MIN_TASK_WORK + perPanel - 1) / perPanel));
    }

    private static void check(float[] x, int rows, Matrix w, float[] y) {
        int n = w.rows(), k = w.cols();
        if (x.length < (long) rows * k || y.length < (long) rows * n) {
            throw new IllegalArgumentException("matmul " + w.name() + ": x has " + x.length + " floats, y " + y.length
                    + ", need " + rows + " x " + k + " and " + rows + " x " + n);
        }
    }

    /**
     * The row stride to give x of width k: k, or k + 16 when k is a multiple of 256 floats. Rows
     * 1 KB-multiples apart fall into the same few cache sets, so a tile's 12 rows (and a block's
     * 240) would evict each other; 64 more bytes spread them over the sets (one Zen 4 core,
     * m=64 k=2048 n=64 BF16: 108 vs 95 GFLOP/s).
     */
    public static int stride(int k) {
        return (k & 255) == 0 ? k + 16 : k;
    }

    /** This thread's padded-x scratch of at least n floats, taken out of the thread-local slot until put back. */
    private static float[] take(int n) {
        float[] p = PADDED.get();
        PADDED.remove();
        return p != null && p.length >= n ? p : new float[Math.max(n, p == null ? 0 : p.length * 2)];
    }

    /**
     * The kernel on one column range, on the calling thread: for rows r < {@code rows} of x (row r
     * at {@code x0 + r*xs}, K = w.k() floats) and columns j in [j0, j1) ({@code j0} a multiple of
     * {@link Panels#NR}), {@code y[y0 + r*ys + j - j0] = x_r · W[j]} in the class's order.
     * Grouped kernels ({@code SwiGluExperts}) call it per (expert, rows, column tile).
     */
    public static void gemm(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        if (j0 % NR != 0) throw new IllegalArgumentException("gemm: first column " + j0 + " is not a multiple of " + NR);
        int k = w.k(), kind = kind(w.dtype());
        if (kind == F16) {
            gemmF16(x, x0, xs, rows, w, j0, j1, y, y0, ys);
            return;
        }
        long step = w.bytesPerK();
        MemorySegment data = w.data();
        float[] tmp = null;                      // the last, partial panel's outputs: [NR] (rows path), [MC x NR] (blocked)
        int p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        if (rows < TILE_ROWS / 2) {
            // one row at a time, four panels at once (decode)
            for (int r = 0; r < rows; r++) {
                int xr = x0 + r * xs, yr = y0 + r * ys;
                int q = p;
                for (; q + 4 <= pEnd && (q + 4) * NR <= j1; q += 4) {
                    row1x4(x, xr, k, data, w.offset(q), w.offset(q + 1) - w.offset(q), step, kind, y, yr + q * NR - j0);
                }
                for (; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    if (width == NR) {
                        row1(x, xr, 0, k, data, w.offset(q), step, kind, false, y, yr + col - j0, 0);
                    } else {
                        if (tmp == null) tmp = EDGE.get();
                        row1(x, xr, 0, k, data, w.offset(q), step, kind, false, tmp, 0, 0);
                        System.arraycopy(tmp, 0, y, yr + col - j0, width);
                    }
                }
            }
            return;
        }
        // blocked: MC rows of x and KC of k stay in L2 while each panel's KC rows (16 KB) stay in L1
        // for all the row tiles; a later K block continues the chains from y (an exact fp32 store)
        int kc = (int) Math.max(8, KC_BYTES / step);
        for (int r0 = 0; r0 < rows; r0 += MC) {
            int r1 = Math.min(rows, r0 + MC);
            for (int c0 = 0; c0 < k; c0 += kc) {
                int kn = Math.min(kc, k - c0);
                boolean add = c0 > 0, last = c0 + kn == k;
                for (int q = p; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    long wo = w.offset(q) + c0 * step;
                    float[] dst = y;
                    int d0 = y0 + r0 * ys + col - j0, ds = ys;
                    if (width < NR) {                // the partial last panel: its chains live in tmp [MC x NR]
                        if (tmp == null) tmp = EDGE.get();
                        dst = tmp;
                        d0 = 0;
                        ds = NR;
                    }
                    for (int r = r0; r < r1; ) {
                        int m = tileRows(r1 - r), xr = x0 + r * xs + c0, dr = d0 + (r - r0) * ds;
                        switch (m) {
                            case 12 -> rows12(x, xr, xs, kn, data, wo, step, kind, add, dst, dr, ds);
                            case 8 -> rows8(x, xr, xs, kn, data, wo, step, kind, add, dst, dr, ds);
                            case 4 -> rows4(x, xr, xs, kn, data, wo, step, kind, add, dst, dr, ds);
                            default -> row1(x, xr, xs, kn, data, wo, step, kind, add, dst, dr, ds);
                        }
                        r += m;
                    }
                    if (dst == tmp && last) {
                        for (int i = 0; i < r1 - r0; i++) System.arraycopy(tmp, i * NR, y, y0 + (r0 + i) * ys + col - j0, width);
                    }
                }
            }
        }
    }

    /**
     * The scalar form of the kernel's order for one output (see the class Javadoc): the fused
     * multiply-add chain over k of x[x0 + k] and W[j, k]. Tests compare every path to it bit for bit.
     */
    public static float reference(float[] x, int x0, Matrix w, int j) {
        float c = 0;
        for (int i = 0; i < w.cols(); i++) c = Math.fma(x[x0 + i], w.get(j, i), c);
        return c;
    }

    /** The height of the next row tile when {@code left} rows remain: MR, then 4, then single rows. */
    private static int tileRows(int left) {
        return left >= TILE_ROWS ? TILE_ROWS : left >= 8 ? 8 : left >= 4 ? 4 : 1;
    }

    private static int kind(DType d) {
        return switch (d) {
            case BF16 -> BF16;
            case F16 -> F16;
            case F32 -> F32;
            default -> throw new IllegalArgumentException(d + " has no panel kernel");
        };
    }

    /**
     * {@link #gemm} for F16 panels: per block of MC rows, per K block of KC_BYTES / (4 NR) panel
     * rows, per panel, the block widened to fp32 ({@link #widenF16}) into this thread's scratch,
     * then the F32 tiles run on it. The same multiply-add chains in the same order as every other
     * path (k ascending, a later K block continuing from y), so the same bits; the widening is
     * paid once per panel block and MC rows, not per row tile. Fewer than TILE_ROWS / 2 rows
     * (decode) read each weight once: {@link #row1F16} widens in its loop, no scratch.
     *
     * <p>Why not widen inside the tiles, as BF16 does (one shift): the exact F16 widening is a
     * dozen vector operations, and with it in every tile kernel C2 ran out of its inlining node
     * budget in {@code gemm} (NodeCountInliningCutoff): the kernels' vector calls were left
     * out of line, boxed a vector per panel row and ran 12-20x slower than BF16 (OLMoE-1B-7B
     * shape, {@code capmoe bench}: 161 vs 2,112 tok/s prefill on 16 threads).
     */
    private static void gemmF16(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        int k = w.k();
        long step = w.bytesPerK(), fstep = 4L * NR;
        int kc = (int) (KC_BYTES / fstep);
        MemorySegment data = w.data(), block = F16_BLOCK.get();
        float[] tmp = null;
        int p = j0 / NR, pEnd = (j1 + NR - 1) / NR;
        if (rows < TILE_ROWS / 2) {
            for (int r = 0; r < rows; r++) {
                int xr = x0 + r * xs, yr = y0 + r * ys;
                for (int q = p; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    if (width == NR) {
                        row1F16(x, xr, k, data, w.offset(q), step, y, yr + col - j0);
                    } else {
                        if (tmp == null) tmp = EDGE.get();
                        row1F16(x, xr, k, data, w.offset(q), step, tmp, 0);
                        System.arraycopy(tmp, 0, y, yr + col - j0, width);
                    }
                }
            }
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += MC) {
            int r1 = Math.min(rows, r0 + MC);
            for (int c0 = 0; c0 < k; c0 += kc) {
                int kn = Math.min(kc, k - c0);
                boolean add = c0 > 0, last = c0 + kn == k;
                for (int q = p; q < pEnd; q++) {
                    int col = q * NR, width = Math.min(NR, j1 - col);
                    widenF16(data, w.offset(q) + c0 * step, step, kn, block);
                    float[] dst = y;
                    int d0 = y0 + r0 * ys + col - j0, ds = ys;
                    if (width < NR) {                // the partial last panel: its chains live in tmp [MC x NR]
                        if (tmp == null) tmp = EDGE.get();
                        dst = tmp;
                        d0 = 0;
                        ds = NR;
                    }
                    for (int r = r0; r < r1; ) {
                        int m = tileRows(r1 - r), xr = x0 + r * xs + c0, dr = d0 + (r - r0) * ds;
                        switch (m) {
                            case 12 -> rows12(x, xr, xs, kn, block, 0, fstep, F32, add, dst, dr, ds);
                            case 8 -> rows8(x, xr, xs, kn, block, 0, fstep, F32, add, dst, dr, ds);
                            case 4 -> rows4(x, xr, xs, kn, block, 0, fstep, F32, add, dst, dr, ds);
                            default -> row1(x, xr, xs, kn, block, 0, fstep, F32, add, dst, dr, ds);
                        }
                        r += m;
                    }
                    if (dst == tmp && last) {
                        for (int i = 0; i < r1 - r0; i++) System.arraycopy(tmp, i * NR, y, y0 + (r0 + i) * ys + col - j0, width);
                    }
                }
            }
        }
    }

    /** One row of one F16 panel, widened as it is read (decode: each weight is used once). */
    private static void row1F16(float[] x, int x0, int k, MemorySegment w, long wo, long step, float[] y, int y0) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            FloatVector b = FloatVector.broadcast(F, x[x0]);
            c00 = b.fma(f16ToF32(w, wo, false), c00);
            c01 = b.fma(f16ToF32(w, wo, true), c01);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
    }

    /** kn rows of an F16 panel (byte so of src, step bytes apart) as fp32 panel rows (4 NR bytes each) at the start of dst. */
    private static void widenF16(MemorySegment src, long so, long step, int kn, MemorySegment dst) {
        for (int c = 0; c < kn; c++, so += step) {
            long o = 4L * NR * c;
            f16ToF32(src, so, false).intoMemorySegment(dst, o, LE);
            f16ToF32(src, so, true).intoMemorySegment(dst, o + 4L * L, LE);
        }
    }

    /** Panel columns 0..L-1 of the panel row at byte o, as floats. */
    private static FloatVector lo(MemorySegment w, long o, int kind) {
        return switch (kind) {
            case BF16 -> IntVector.fromMemorySegment(I, w, o, LE).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            default -> FloatVector.fromMemorySegment(F, w, o, LE);
        };
    }

    /** Panel columns L..2L-1 of the panel row at byte o, as floats. */
    private static FloatVector hi(MemorySegment w, long o, int kind) {
        return switch (kind) {
            case BF16 -> IntVector.fromMemorySegment(I, w, o, LE).and(0xFFFF0000).reinterpretAsFloats();
            default -> FloatVector.fromMemorySegment(F, w, o + 4L * L, LE);
        };
    }

    /**
     * An 8-row tile of one panel over k steps: x[r, c] at x0 + r*xs + c (r < 8), outputs at y0 + r*ys; the
     * chains start at zero, or, when {@code add}, at the values in y (the previous K block's).
     */
    private static void rows8(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, int kind, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c10 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c11 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c20 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c21 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c30 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c31 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        FloatVector c40 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys) : FloatVector.zero(F);
        FloatVector c41 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys + L) : FloatVector.zero(F);
        FloatVector c50 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys) : FloatVector.zero(F);
        FloatVector c51 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys + L) : FloatVector.zero(F);
        FloatVector c60 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys) : FloatVector.zero(F);
        FloatVector c61 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys + L) : FloatVector.zero(F);
        FloatVector c70 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys) : FloatVector.zero(F);
        FloatVector c71 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            FloatVector lo = lo(w, wo, kind), hi = hi(w, wo, kind);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c10 = b.fma(lo, c10); c11 = b.fma(hi, c11);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c20 = b.fma(lo, c20); c21 = b.fma(hi, c21);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c30 = b.fma(lo, c30); c31 = b.fma(hi, c31);
            b = FloatVector.broadcast(F, x[x0 + 4 * xs]); c40 = b.fma(lo, c40); c41 = b.fma(hi, c41);
            b = FloatVector.broadcast(F, x[x0 + 5 * xs]); c50 = b.fma(lo, c50); c51 = b.fma(hi, c51);
            b = FloatVector.broadcast(F, x[x0 + 6 * xs]); c60 = b.fma(lo, c60); c61 = b.fma(hi, c61);
            b = FloatVector.broadcast(F, x[x0 + 7 * xs]); c70 = b.fma(lo, c70); c71 = b.fma(hi, c71);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
        c10.intoArray(y, y0 + 1 * ys); c11.intoArray(y, y0 + 1 * ys + L);
        c20.intoArray(y, y0 + 2 * ys); c21.intoArray(y, y0 + 2 * ys + L);
        c30.intoArray(y, y0 + 3 * ys); c31.intoArray(y, y0 + 3 * ys + L);
        c40.intoArray(y, y0 + 4 * ys); c41.intoArray(y, y0 + 4 * ys + L);
        c50.intoArray(y, y0 + 5 * ys); c51.intoArray(y, y0 + 5 * ys + L);
        c60.intoArray(y, y0 + 6 * ys); c61.intoArray(y, y0 + 6 * ys + L);
        c70.intoArray(y, y0 + 7 * ys); c71.intoArray(y, y0 + 7 * ys + L);
    }

    /** A 12-row tile (AVX-512: 24 accumulators, 2 weight vectors, 1 broadcast of 32 registers). */
    private static void rows12(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, int kind, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c000 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c001 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c010 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c011 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c020 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c021 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c030 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c031 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        FloatVector c040 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys) : FloatVector.zero(F);
        FloatVector c041 = add ? FloatVector.fromArray(F, y, y0 + 4 * ys + L) : FloatVector.zero(F);
        FloatVector c050 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys) : FloatVector.zero(F);
        FloatVector c051 = add ? FloatVector.fromArray(F, y, y0 + 5 * ys + L) : FloatVector.zero(F);
        FloatVector c060 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys) : FloatVector.zero(F);
        FloatVector c061 = add ? FloatVector.fromArray(F, y, y0 + 6 * ys + L) : FloatVector.zero(F);
        FloatVector c070 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys) : FloatVector.zero(F);
        FloatVector c071 = add ? FloatVector.fromArray(F, y, y0 + 7 * ys + L) : FloatVector.zero(F);
        FloatVector c080 = add ? FloatVector.fromArray(F, y, y0 + 8 * ys) : FloatVector.zero(F);
        FloatVector c081 = add ? FloatVector.fromArray(F, y, y0 + 8 * ys + L) : FloatVector.zero(F);
        FloatVector c090 = add ? FloatVector.fromArray(F, y, y0 + 9 * ys) : FloatVector.zero(F);
        FloatVector c091 = add ? FloatVector.fromArray(F, y, y0 + 9 * ys + L) : FloatVector.zero(F);
        FloatVector c100 = add ? FloatVector.fromArray(F, y, y0 + 10 * ys) : FloatVector.zero(F);
        FloatVector c101 = add ? FloatVector.fromArray(F, y, y0 + 10 * ys + L) : FloatVector.zero(F);
        FloatVector c110 = add ? FloatVector.fromArray(F, y, y0 + 11 * ys) : FloatVector.zero(F);
        FloatVector c111 = add ? FloatVector.fromArray(F, y, y0 + 11 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            FloatVector lo = lo(w, wo, kind), hi = hi(w, wo, kind);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c000 = b.fma(lo, c000); c001 = b.fma(hi, c001);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c010 = b.fma(lo, c010); c011 = b.fma(hi, c011);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c020 = b.fma(lo, c020); c021 = b.fma(hi, c021);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c030 = b.fma(lo, c030); c031 = b.fma(hi, c031);
            b = FloatVector.broadcast(F, x[x0 + 4 * xs]); c040 = b.fma(lo, c040); c041 = b.fma(hi, c041);
            b = FloatVector.broadcast(F, x[x0 + 5 * xs]); c050 = b.fma(lo, c050); c051 = b.fma(hi, c051);
            b = FloatVector.broadcast(F, x[x0 + 6 * xs]); c060 = b.fma(lo, c060); c061 = b.fma(hi, c061);
            b = FloatVector.broadcast(F, x[x0 + 7 * xs]); c070 = b.fma(lo, c070); c071 = b.fma(hi, c071);
            b = FloatVector.broadcast(F, x[x0 + 8 * xs]); c080 = b.fma(lo, c080); c081 = b.fma(hi, c081);
            b = FloatVector.broadcast(F, x[x0 + 9 * xs]); c090 = b.fma(lo, c090); c091 = b.fma(hi, c091);
            b = FloatVector.broadcast(F, x[x0 + 10 * xs]); c100 = b.fma(lo, c100); c101 = b.fma(hi, c101);
            b = FloatVector.broadcast(F, x[x0 + 11 * xs]); c110 = b.fma(lo, c110); c111 = b.fma(hi, c111);
        }
        c000.intoArray(y, y0); c001.intoArray(y, y0 + L);
        c010.intoArray(y, y0 + 1 * ys); c011.intoArray(y, y0 + 1 * ys + L);
        c020.intoArray(y, y0 + 2 * ys); c021.intoArray(y, y0 + 2 * ys + L);
        c030.intoArray(y, y0 + 3 * ys); c031.intoArray(y, y0 + 3 * ys + L);
        c040.intoArray(y, y0 + 4 * ys); c041.intoArray(y, y0 + 4 * ys + L);
        c050.intoArray(y, y0 + 5 * ys); c051.intoArray(y, y0 + 5 * ys + L);
        c060.intoArray(y, y0 + 6 * ys); c061.intoArray(y, y0 + 6 * ys + L);
        c070.intoArray(y, y0 + 7 * ys); c071.intoArray(y, y0 + 7 * ys + L);
        c080.intoArray(y, y0 + 8 * ys); c081.intoArray(y, y0 + 8 * ys + L);
        c090.intoArray(y, y0 + 9 * ys); c091.intoArray(y, y0 + 9 * ys + L);
        c100.intoArray(y, y0 + 10 * ys); c101.intoArray(y, y0 + 10 * ys + L);
        c110.intoArray(y, y0 + 11 * ys); c111.intoArray(y, y0 + 11 * ys + L);
    }

    /** A 4-row tile of one panel. */
    private static void rows4(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, int kind, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        FloatVector c10 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys) : FloatVector.zero(F);
        FloatVector c11 = add ? FloatVector.fromArray(F, y, y0 + 1 * ys + L) : FloatVector.zero(F);
        FloatVector c20 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys) : FloatVector.zero(F);
        FloatVector c21 = add ? FloatVector.fromArray(F, y, y0 + 2 * ys + L) : FloatVector.zero(F);
        FloatVector c30 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys) : FloatVector.zero(F);
        FloatVector c31 = add ? FloatVector.fromArray(F, y, y0 + 3 * ys + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            FloatVector lo = lo(w, wo, kind), hi = hi(w, wo, kind);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
            b = FloatVector.broadcast(F, x[x0 + 1 * xs]); c10 = b.fma(lo, c10); c11 = b.fma(hi, c11);
            b = FloatVector.broadcast(F, x[x0 + 2 * xs]); c20 = b.fma(lo, c20); c21 = b.fma(hi, c21);
            b = FloatVector.broadcast(F, x[x0 + 3 * xs]); c30 = b.fma(lo, c30); c31 = b.fma(hi, c31);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
        c10.intoArray(y, y0 + 1 * ys); c11.intoArray(y, y0 + 1 * ys + L);
        c20.intoArray(y, y0 + 2 * ys); c21.intoArray(y, y0 + 2 * ys + L);
        c30.intoArray(y, y0 + 3 * ys); c31.intoArray(y, y0 + 3 * ys + L);
    }

    /** One row of one panel (xs unused). */
    private static void row1(float[] x, int x0, int xs, int k, MemorySegment w, long wo, long step, int kind, boolean add,
                             float[] y, int y0, int ys) {
        FloatVector c00 = add ? FloatVector.fromArray(F, y, y0) : FloatVector.zero(F);
        FloatVector c01 = add ? FloatVector.fromArray(F, y, y0 + L) : FloatVector.zero(F);
        for (int c = 0; c < k; c++, wo += step, x0++) {
            FloatVector lo = lo(w, wo, kind), hi = hi(w, wo, kind);
            FloatVector b;
            b = FloatVector.broadcast(F, x[x0]); c00 = b.fma(lo, c00); c01 = b.fma(hi, c01);
        }
        c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
    }

    /** One row of four consecutive panels ({@code pstep} bytes apart): eight independent chains. */
    private static void row1x4(float[] x, int x0, int k, MemorySegment w, long wo, long pstep, long step, int kind, float[] y, int y0) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), b0 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), d0 = FloatVector.zero(F), d1 = FloatVector.zero(F);
        long wa = wo, wb = wo + pstep, wc = wb + pstep, wd = wc + pstep;
        for (int c = 0; c < k; c++, wa += step, wb += step, wc += step, wd += step) {
            FloatVector v = FloatVector.broadcast(F, x[x0 + c]);
            a0 = v.fma(lo(w, wa, kind), a0); a1 = v.fma(hi(w, wa, kind), a1);
            b0 = v.fma(lo(w, wb, kind), b0); b1 = v.fma(hi(w, wb, kind), b1);
            c0 = v.fma(lo(w, wc, kind), c0); c1 = v.fma(hi(w, wc, kind), c1);
            d0 = v.fma(lo(w, wd, kind), d0); d1 = v.fma(hi(w, wd, kind), d1);
        }
        a0.intoArray(y, y0); a1.intoArray(y, y0 + L);
        b0.intoArray(y, y0 + NR); b1.intoArray(y, y0 + NR + L);
        c0.intoArray(y, y0 + 2 * NR); c1.intoArray(y, y0 + 2 * NR + L);
        d0.intoArray(y, y0 + 3 * NR); d1.intoArray(y, y0 + 3 * NR + L);
    }

    private static final FloatVector TWO_112 = FloatVector.broadcast(F, 0x1p112f);

    /**
     * L IEEE halves to fp32, exactly, as {@link Float#float16ToFloat}: of the L little-endian ints at
     * byte o of w, the low halves, or when {@code high} the high ones. The exponent and mantissa
     * moved into fp32 position are the value times 2^-112 (subnormal halves land on fp32
     * subnormals, exactly), so one multiply by 2^112 rescales every finite value; infinities and
     * NaNs (exponent 31) get fp32's all-ones exponent; the sign is moved last.
     *
     */
    static FloatVector f16ToF32(MemorySegment w, long o, boolean high) {
        IntVector words = IntVector.fromMemorySegment(I, w, o, LE);
        IntVector h = high ? words.lanewise(VectorOperators.LSHR, 16) : words.and(0xFFFF);
        IntVector magnitude = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13);
        FloatVector v = magnitude.reinterpretAsFloats().mul(TWO_112);
        IntVector bits = v.reinterpretAsInts();
        bits = bits.blend(magnitude.or(0x7F800000), h.and(0x7C00).compare(VectorOperators.EQ, 0x7C00));
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    private static void scalar(float[] x, int rows, int k, Matrix w, int n, int n0, int n1, float[] bias, float[] y) {
        float[] row = new float[k];
        for (int j = n0; j < n1; j++) {
            w.row(j, row, 0);
            for (int r = 0; r < rows; r++) {
                float s = 0;
                for (int c = 0; c < k; c++) s += x[r * k + c] * row[c];
                y[r * n + j] = bias == null ? s : s + bias[j];
            }
        }
    }
}
