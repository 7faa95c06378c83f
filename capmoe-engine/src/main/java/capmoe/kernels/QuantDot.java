package capmoe.kernels;

import capmoe.weights.DType;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * y = x W^T (+ bias) for Q8_0 / Q4_0 weights in {@link DotMode#REDUCED}: llama.cpp's arithmetic.
 * Each row of x is quantized to Q8_0 blocks exactly as ggml's x86 {@code quantize_row_q8_0} does
 * ({@link #quantize}), then native kernels ({@code capmoe-engine/src/main/c/quant_dot.c}, over
 * {@link NativeKernels}) take exact int8 dot products per block (AVX-512 VNNI {@code vpdpbusd},
 * AVX2 {@code vpmaddubsw}, or portable C) and accumulate the fp32 scale products in llama.cpp's
 * order: Q8_0 as {@code ggml_vec_dot_q8_0_q8_0} / tinyBLAS (8 lanes of 4-product sums, then
 * {@code hsum_float_8}), Q4_0 as the q4_0_8x8 repack kernels (one chain over blocks); the C file's
 * top comment gives both orders with file and line.
 *
 * <p>Steps of {@link #matmul}:
 * <ol>
 *   <li>each row of x to Q8_0 activation blocks ({@link #quantize}: 72 bytes per 32 values — the
 *       32 int8, the correction sums the unsigned weight bytes need, the fp16 scale widened), a
 *       phase over rows;</li>
 *   <li>{@link #gemm} over the {@link QuantDotPanels} of all the matrices read with that x (q, k
 *       and v together), split over {@link Parallel#current()} as (panel of 16 columns, block of
 *       {@link #ROW_BLOCK} rows) items, panel-major ({@link Parallel#forWork}: a small matrix stays
 *       on the caller): tiles of 2 (Q8_0) or 6 (Q4_0) rows x 16 columns.</li>
 * </ol>
 *
 * <p><b>Row independence</b> ({@link MatMul}'s invariant, within this mode): every output goes
 * through the same operations whatever the tile height, position, column range, thread or kernel
 * path (the three give the same bits), so a row's result never depends on the batch
 * ({@code QuantDotTest} checks it bit for bit).
 */
public final class QuantDot {
    private QuantDot() { }

    /** Bytes of one activation block: int8 q[32], int32 c8[8], int32 c4, float d (quant_dot.c). */
    public static final int BLOCK_BYTES = 72;
    /**
     * Block stride of activation rows kept in a float matrix in place of their values (the grouped
     * experts' gathered and hidden rows): block b at byte 128·b, where its 32 floats were, so a
     * column tile of whole blocks is quantized in place without touching its neighbours.
     */
    public static final int IN_PLACE = 128;
    private static final int QK = 32;

    private static final MethodHandle BYTES = NativeKernels.function("capmoe_qdot_bytes",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG), false);
    private static final MethodHandle PACK = NativeKernels.function("capmoe_qdot_pack",
            FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG), false);
    private static final MethodHandle ISA = NativeKernels.function("capmoe_qdot_isa",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle QUANTIZE = NativeKernels.function("capmoe_qdot_quantize",
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG), true);
    private static final MethodHandle GEMM = NativeKernels.function("capmoe_qdot_gemm",
            FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                    ADDRESS, JAVA_LONG, JAVA_LONG), true);

    /** Bytes of one row of K values as activation blocks. */
    public static int rowBytes(int k) {
        return k / QK * BLOCK_BYTES;
    }

    /** y[r*N + n] = Σ_k x_q[r, k]·W[n, k] in llama.cpp's order (+ bias[n]), x_q = row r of x quantized to Q8_0; y is overwritten. */
    public static void matmul(float[] x, int rows, Matrix w, float[] bias, float[] y) {
        Call c = Call.SLOT.take();
        c.one[0] = w;
        c.oneBias[0] = bias;
        c.oneY[0] = y;
        try {
            c.run(x, rows, c.one, c.oneBias, c.oneY);
        } finally {
            c.one[0] = null;
            c.oneBias[0] = null;
            c.oneY[0] = null;
            Call.put(c);
        }
    }

    /** True when every matrix of {@code w} is Q8_0/Q4_0 in {@link DotMode#REDUCED} with the same K: {@link #matmul(float[], int, Matrix[], float[][], float[][])} takes them together. */
    public static boolean applies(Matrix[] w) {
        for (Matrix m : w) if (!m.dtype().quantized() || m.dot() != DotMode.REDUCED || m.cols() != w[0].cols()) return false;
        return w.length > 0;
    }

    /**
     * y_i = x W_i^T (+ bias_i) for several matrices read with the same x (an attention's q, k and v
     * projections), each output as {@link #matmul(float[], int, Matrix, float[], float[])} computes
     * it: x quantized once, then ONE phase over (panel, row block) items of all the matrices,
     * panel-major (a task keeps its panels' weights in cache across its row blocks), so that a
     * matrix of fewer panels than threads (olmoe-tiny's 12 at 16 threads) still keeps the team busy
     * at prefill. {@code bias} may be null, or hold nulls.
     */
    public static void matmul(float[] x, int rows, Matrix[] w, float[][] bias, float[][] y) {
        Call c = Call.SLOT.take();
        try {
            c.run(x, rows, w, bias, y);
        } finally {
            Call.put(c);
        }
    }

    /**
     * One {@link #matmul} call's state, kept in the calling thread's {@link ThreadSlot} for its next
     * call (a decode step then allocates no per-call arrays or lambdas here): x's activation
     * blocks, the matrices' panels and their ranges in the phase, the two phase bodies with what
     * they read, and the one-element arrays through which a single matrix is passed. A nested
     * call (from inside a phase) gets its own.
     */
    private static final class Call implements Parallel.Range {
        static final ThreadSlot<Call> SLOT = new ThreadSlot<>(Call::new);

        final Matrix[] one = new Matrix[1];
        final float[][] oneBias = new float[1][], oneY = new float[1][];
        /** [rows x K/32 x 72 bytes] x's activation blocks ({@link #quantize}), grown on demand. */
        byte[] xq = new byte[0];
        /** [matrices]: each matrix's dot panels. */
        QuantDotPanels[] p = new QuantDotPanels[3];
        /** [matrices + 1]: matrix i's panels are [first[i], first[i+1]) of the phase. */
        int[] first = new int[4];
        /** The first phase's body: rows [r0, r1) of x quantized into xq. */
        final Parallel.Range quantizing = this::quantizeRows;
        // the running call's arguments (cleared after it, so that no matrix or buffer is kept alive)
        float[] x;
        Matrix[] w;
        float[][] bias, y;
        int rows, k, xs, blockRows, blocks;

        static void put(Call c) {
            c.x = null;
            c.w = null;
            c.bias = c.y = null;
            java.util.Arrays.fill(c.p, null);
            SLOT.put(c);
        }

        void run(float[] x, int rows, Matrix[] w, float[][] bias, float[][] y) {
            if (!applies(w)) throw new IllegalArgumentException("matrix " + w[0].name() + ": QuantDot multiplies Q8_0/Q4_0 matrices in --dot reduced of one K");
            if (rows == 0) return;
            int k = w[0].cols(), xs = rowBytes(k);
            if (p.length < w.length) p = new QuantDotPanels[w.length];
            if (first.length < w.length + 1) first = new int[w.length + 1];
            first[0] = 0;
            for (int i = 0; i < w.length; i++) {
                if (x.length < (long) rows * k || y[i].length < (long) rows * w[i].rows()) {
                    throw new IllegalArgumentException("matmul " + w[i].name() + ": x has " + x.length + " floats, y " + y[i].length
                            + ", need " + rows + " x " + k + " and " + rows + " x " + w[i].rows());
                }
                p[i] = w[i].quantDotPanels();
                first[i + 1] = first[i] + p[i].panels();
            }
            if (xq.length < rows * xs) xq = new byte[Math.max(rows * xs, 2 * xq.length)];
            this.x = x;
            this.w = w;
            this.bias = bias;
            this.y = y;
            this.rows = rows;
            this.k = k;
            this.xs = xs;
            blockRows = Math.min(rows, ROW_BLOCK);
            blocks = (rows + blockRows - 1) / blockRows;
            Parallel pool = Parallel.current();
            pool.forRange(rows, 8, quantizing);
            pool.forWork(first[w.length] * blocks, (long) blockRows * k * QuantDotPanels.COLUMNS, this);
        }

        private void quantizeRows(int r0, int r1) {
            quantize(x, r0 * k, k, r1 - r0, k, NativeKernels.heap(xq), (long) r0 * xs, xs, BLOCK_BYTES);
        }

        /** Items [t0, t1) of the phase ((panel, row block) pairs, panel-major): their outputs, then the bias. */
        @Override
        public void run(int t0, int t1) {
            MemorySegment xseg = NativeKernels.heap(xq);
            for (int t = t0; t < t1; ) {
                int q = t / blocks, b0 = t % blocks, i = 0;
                while (first[i + 1] <= q) i++;
                // one call per run of items: whole panels of matrix i (all rows), or rows [r0, r1) of panel q
                int qEnd, r0, r1, used;
                if (b0 == 0 && t + blocks <= t1) {
                    qEnd = Math.min(first[i + 1], t1 / blocks);
                    r0 = 0;
                    r1 = rows;
                    used = (qEnd - q) * blocks;
                } else {
                    int b1 = Math.min(blocks, b0 + t1 - t);
                    qEnd = q + 1;
                    r0 = b0 * blockRows;
                    r1 = Math.min(rows, b1 * blockRows);
                    used = b1 - b0;
                }
                int n = w[i].rows(), j0 = (q - first[i]) * QuantDotPanels.COLUMNS, j1 = Math.min(n, (qEnd - first[i]) * QuantDotPanels.COLUMNS);
                gemm(xseg, (long) r0 * xs, xs, BLOCK_BYTES, r1 - r0, p[i], j0, j1, y[i], r0 * n + j0, n);
                float[] bi = bias == null ? null : bias[i];
                if (bi != null) {
                    for (int r = r0; r < r1; r++) for (int j = j0; j < j1; j++) y[i][r * n + j] += bi[j];
                }
                t += used;
            }
        }
    }

    /** Rows per item of {@link #matmul}'s phase: a row block's activation blocks (64 x K/32 x 72 bytes) stay in L1/L2 across a panel's tiles. */
    static final int ROW_BLOCK = 64;

    /**
     * The kernel on one column range, on the calling thread: for rows r < {@code rows} of activation
     * blocks (row r at byte {@code x0 + r*xs} of {@code xq}, its blocks {@code blockStride} bytes
     * apart, written by {@link #quantize}) and columns j in [j0, j1) (j0 a multiple of 16),
     * {@code y[y0 + r*ys + j - j0] = x_r · W[j]}. Grouped kernels ({@code QuantizedExperts}) call it
     * per (expert, rows, column tile).
     */
    public static void gemm(MemorySegment xq, long x0, long xs, int blockStride, int rows, QuantDotPanels w, int j0, int j1,
                            float[] y, int y0, int ys) {
        if (j0 % QuantDotPanels.COLUMNS != 0) throw new IllegalArgumentException("gemm: first column " + j0 + " is not a multiple of 16");
        if (rows == 0 || j1 <= j0) return;
        try {
            GEMM.invokeExact(w.format(), w.data(), (long) w.k(), xq, x0, xs, (long) blockStride, (long) rows,
                    (long) j0, (long) j1, NativeKernels.heap(y), (long) y0, (long) ys);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Row {@code [xo, xo+k)} of x to Q8_0 activation blocks in {@code out}, as llama.cpp's x86
     * {@code quantize_row_q8_0} ({@code ggml/src/ggml-cpu/arch/x86/quants.c} lines 302-346, the path
     * its -march=native AVX2/AVX-512 build takes; the generic {@code quantize_row_q8_0_ref} of
     * {@code ggml/src/ggml-quants.c} line 276 rounds half away from zero with id = 1/d and is used
     * only without AVX): per block of 32,
     * <ol>
     *   <li>amax = max |x| (a maximum: any order gives the same value);</li>
     *   <li>d = fp16(amax / 127) rounded to nearest even ({@code GGML_CPU_FP32_TO_FP16}, F16C's
     *       {@code vcvtps2ph} with imm 0; {@link Float#floatToFloat16} rounds the same);</li>
     *   <li>id = 127 / amax in fp32, or 0 when amax is 0;</li>
     *   <li>q = x·id rounded to nearest, ties to even ({@code _mm256_round_ps(v, _MM_ROUND_NEAREST)}),
     *       converted by {@code vcvtps2dq} and packed with signed saturation: a NaN or an |x·id| of
     *       2^31 or more (only when amax is below 127/FLT_MAX, so id is infinite) becomes -128.</li>
     * </ol>
     * The block (at byte {@code at + b·blockStride} of {@code out}: {@link #BLOCK_BYTES} packed, or
     * {@link #IN_PLACE} over x itself) stores q, then c8[g] = -128·(q[4g] + .. + q[4g+3]),
     * c4 = -8·Σq and d widened to fp32 (what the kernels add to their unsigned-weight dot products,
     * and multiply by). The native {@code capmoe_qdot_quantize} does it (AVX-512, AVX2 or portable C,
     * the same bytes), reading a block's 32 floats before writing it.
     */
    public static void quantize(float[] x, int xo, int k, MemorySegment out, long at, int blockStride) {
        quantize(x, xo, 0, 1, k, out, at, 0, blockStride);
    }

    /**
     * {@link #quantize(float[], int, int, MemorySegment, long, int)} of {@code rows} rows in one
     * native call: row r of x at {@code xo + r*xs}, its blocks at byte {@code at + r*os} of {@code out}.
     */
    public static void quantize(float[] x, int xo, int xs, int rows, int k, MemorySegment out, long at, long os, int blockStride) {
        if (k % QK != 0) throw new IllegalArgumentException("Q8_0 activations need a multiple of 32 columns, got " + k);
        if (rows == 0 || k == 0) return;
        try {
            QUANTIZE.invokeExact(NativeKernels.heap(x), (long) xo, (long) xs, (long) rows, (long) k, out, at, os, (long) blockStride);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Bytes of the dot panels of an n x k matrix. */
    static long panelBytes(DType format, int n, int k) {
        try {
            return (long) BYTES.invokeExact(format == DType.Q8_0 ? 0 : 1, (long) n, (long) k);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Panels p0 .. p1-1 of {@code out} from ggml row-major blocks {@code src} holding W's rows from {@code row0} on. */
    static void pack(QuantDotPanels out, MemorySegment src, int row0, int p0, int p1) {
        try {
            PACK.invokeExact(out.format(), src, (long) row0, (long) out.n(), (long) out.k(), out.data(), (long) p0, (long) p1);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The native kernel path: {@code level} &lt; 0 asks which is in use (the best the CPU has, by
     * default); 2 = AVX-512 VNNI, 1 = AVX2, 0 = portable C selects that one or the best below it
     * the CPU has (the tests compare the paths bit for bit). Returns the level in use.
     */
    public static int isa(int level) {
        try {
            return (int) ISA.invokeExact(level);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
