package capmoe.kernels;

import capmoe.weights.DType;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * y = x W^T (+ bias) for BF16 weights in {@link DotMode#REDUCED}: llama.cpp's arithmetic for a BF16
 * matmul on the CPU, bit for bit. The activations are rounded to bf16 as ggml's
 * {@code ggml_cpu_fp32_to_bf16} does ({@code ggml/src/ggml-cpu/ggml-cpu.c} lines 3531-3536:
 * {@code GGML_FP32_TO_BF16}, {@code ggml/src/ggml-impl.h} lines 611-624), then the bf16 x bf16
 * products are summed by AVX512_BF16's vdpbf16ps in the {@link Order} of the llama.cpp kernel that
 * would run the same matmul: tinyBLAS's for a dense matmul of two or more rows (when K and N allow,
 * {@link #matMulOrder}), {@code ggml_vec_dot_bf16}'s for the experts and for one row. The kernels
 * are C ({@code capmoe-engine/src/main/c/bf16_dot.c}, where the layout and both orders are written
 * out with file and line), called over FFM ({@link NativeKernels}) on {@link PairPanels}; the
 * threads stay Java's: a call is split over output columns by {@link Parallel}, and each native
 * call computes a column range for all rows on its thread. Without AVX512_BF16 a portable C model
 * of the same orders gives the same bits (except where vdpbf16ps flushes a subnormal to zero, or a
 * lane's two products overflow fp32, which the instruction adds with more range).
 *
 * <p><b>Row independence, per order.</b> Within one order every output goes through the same
 * operations whatever the tile, the thread, the column range or the other rows, so a row's bits
 * depend only on that row of x and W ({@link MatMul}'s invariant). A dense matrix takes tinyBLAS's
 * order from two rows on and {@code ggml_vec_dot_bf16}'s for one, as llama.cpp does, so its
 * one-row results (decode) differ in rounding from the same row inside a batch (prefill); the
 * experts' order never depends on the batch.
 */
public final class ReducedMatMul {
    private ReducedMatMul() { }

    private static final int NR = PairPanels.NR;

    /** The order of a sum: one of llama.cpp's two BF16 kernels (bf16_dot.c's top comment). */
    public enum Order {
        /** {@code ggml_vec_dot_bf16} (ggml/src/ggml-cpu/vec.cpp lines 139-163): two zmm over blocks of 64, summed in double with the tail. */
        VEC_DOT,
        /** tinyBLAS's {@code gemm_bloc} (ggml/src/ggml-cpu/llamafile/sgemm.cpp lines 537-568): one zmm over blocks of 32, K % 32 == 0. */
        TINYBLAS
    }

    private static final FunctionDescriptor GEMM_TYPE = FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT,
            ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle GEMM = NativeKernels.function("capmoe_bf16_gemm", GEMM_TYPE, true);
    private static final MethodHandle GEMM_PORTABLE = NativeKernels.function("capmoe_bf16_gemm_portable", GEMM_TYPE, true);
    private static final MethodHandle GEMM_PREPARED = NativeKernels.function("capmoe_bf16_gemm_prepared", GEMM_TYPE, true);
    private static final MethodHandle PREPARE = NativeKernels.function("capmoe_bf16_prepare",
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG), true);
    private static final MethodHandle PACK = NativeKernels.function("capmoe_bf16_pack",
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle ROUND = NativeKernels.function("capmoe_bf16_round",
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, ADDRESS), true);
    private static final MethodHandle ISA = NativeKernels.function("capmoe_bf16_isa", FunctionDescriptor.of(JAVA_INT), false);

    /** True when every matrix is a BF16 one in reduced mode, all of the same width: {@link MatMul#matmul(float[], int, Matrix[], float[][], float[][])} multiplies them by {@link #gemm}, one parallel phase over all their panels. */
    public static boolean applies(Matrix[] w) {
        for (Matrix m : w) if (!m.reducedBf16() || m.cols() != w[0].cols()) return false;
        return true;
    }

    /**
     * The order llama.cpp's {@code ggml_mul_mat} sums a BF16 matrix [n x k] times {@code rows} rows
     * of activations in: {@link Order#TINYBLAS} when {@code llamafile_sgemm} takes it (at least two
     * rows, {@code sgemm.cpp} line 3810; k % 32 == 0 and n % 4 == 0, lines 489-523), else
     * {@link Order#VEC_DOT} ({@code ggml-cpu.c} lines 1339-1410). The experts ({@code ggml_mul_mat_id})
     * always take {@link Order#VEC_DOT}.
     */
    public static Order matMulOrder(int rows, int n, int k) {
        return rows >= 2 && k % 32 == 0 && n % 4 == 0 ? Order.TINYBLAS : Order.VEC_DOT;
    }

    /**
     * The kernel on one column range, on the calling thread: for rows r < {@code rows} of x (row r
     * at {@code x0 + r*xs}, K = w.k() floats) and columns j in [j0, j1) ({@code j0} a multiple of
     * {@link PairPanels#NR}), {@code y[y0 + r*ys + j - j0] = bf16(x_r) · W[j]} summed in {@code order}
     * ({@link Order#TINYBLAS} needs K % 32 == 0).
     */
    public static void gemm(Order order, float[] x, int x0, int xs, int rows, PairPanels w, int j0, int j1, float[] y, int y0, int ys) {
        call(GEMM, order, x, x0, xs, rows, w, j0, j1, y, y0, ys, false);
    }

    /**
     * Words (32-bit, stored in a float[]) of one row of K activations prepared for
     * {@link #gemmPrepared}: its bf16 values in pairs, zero-padded to K rounded up to 64.
     */
    public static int preparedWords(int k) {
        return ((k + 63) & ~63) / 2;
    }

    /**
     * Columns [c0, c1) of one row of K activations, {@code x[x0 + c0 .. x0 + c1)}, rounded to bf16
     * as {@link #gemm} rounds them, into the row's prepared form at {@code out[o0 ..
     * o0 + preparedWords(k))} (bf16 value c in the low (c even) or high half of word {@code o0 + c/2},
     * the padding zeroed by the call with {@code c1 == k}). Disjoint column ranges of one row write
     * disjoint bytes (tiles of one row may be prepared from several threads).
     */
    public static void prepare(float[] x, int x0, int k, int c0, int c1, float[] out, int o0) {
        if (c0 < 0 || c1 > k || c0 > c1 || (long) x0 + k > x.length || (long) o0 + preparedWords(k) > out.length) {
            throw new IllegalArgumentException("reduced prepare: columns [" + c0 + ", " + c1 + ") of " + k + " from " + x0 + " of " + x.length
                    + " into " + o0 + " of " + out.length);
        }
        try {
            PREPARE.invokeExact(NativeKernels.heap(x), (long) x0, k, c0, c1, NativeKernels.heap(out), (long) o0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * {@link #gemm} on rows already {@link #prepare prepared}: row r's {@link #preparedWords}(K)
     * words at {@code xw[x0 + r*xs ..]} ({@code xs >= preparedWords(K)}); the same kernel and bits,
     * without rounding x again (the grouped experts prepare each row once for all column tiles).
     */
    public static void gemmPrepared(Order order, float[] xw, int x0, int xs, int rows, PairPanels w, int j0, int j1, float[] y, int y0, int ys) {
        int words = preparedWords(w.k());
        if (rows > 0 && ((long) x0 + (long) (rows - 1) * xs + words > xw.length || xs < words)) {
            throw new IllegalArgumentException("reduced gemm: " + rows + " prepared rows of " + words + " words do not fit " + xw.length
                    + " from " + x0 + ", stride " + xs);
        }
        call(GEMM_PREPARED, order, xw, x0, xs, rows, w, j0, j1, y, y0, ys, true);
    }

    /** {@link #gemm} on the portable C kernel whatever the CPU (tests compare it with the AVX512_BF16 one). */
    static void gemmPortable(Order order, float[] x, int x0, int xs, int rows, PairPanels w, int j0, int j1, float[] y, int y0, int ys) {
        call(GEMM_PORTABLE, order, x, x0, xs, rows, w, j0, j1, y, y0, ys, false);
    }

    private static void call(MethodHandle kernel, Order order, float[] x, int x0, int xs, int rows, PairPanels w, int j0, int j1,
                             float[] y, int y0, int ys, boolean prepared) {
        if (j0 % NR != 0) throw new IllegalArgumentException("reduced gemm: first column " + j0 + " is not a multiple of " + NR);
        if (order == Order.TINYBLAS && w.k() % 32 != 0) throw new IllegalArgumentException("reduced gemm: tinyBLAS's order needs K % 32 == 0, not K = " + w.k());
        if (rows <= 0 || j0 >= j1) return;
        if (j1 > w.n() || !prepared && ((long) x0 + (long) (rows - 1) * xs + w.k() > x.length || xs < w.k())
                || (long) y0 + (long) (rows - 1) * ys + (j1 - j0) > y.length || ys < j1 - j0) {
            throw new IllegalArgumentException("reduced gemm: " + rows + " rows x columns [" + j0 + ", " + j1 + ") of [" + w.n() + " x " + w.k()
                    + "] do not fit x (" + x.length + " floats from " + x0 + ", stride " + xs + ") or y (" + y.length + " from " + y0 + ", stride " + ys + ")");
        }
        try {
            kernel.invokeExact(order.ordinal(), NativeKernels.heap(x), (long) x0, xs, rows, w.k(), w.data(), j0, j1, NativeKernels.heap(y), (long) y0, ys);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Panels [p0, p1) of {@code out} packed from the row-major BF16 {@code w} [n x k] (native, {@link PairPanels#pack}). */
    static void pack(MemorySegment w, int n, int k, int p0, int p1, MemorySegment out) {
        try {
            PACK.invokeExact(w, n, k, p0, p1, out);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** x rounded to bf16 by the native rounding the kernels use (ggml's GGML_FP32_TO_BF16), for the tests. */
    static short[] round(float[] x) {
        short[] out = new short[x.length];
        try {
            ROUND.invokeExact(MemorySegment.ofArray(x), x.length, MemorySegment.ofArray(out));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return out;
    }

    /** "avx512bf16" when {@link #gemm} runs the AVX512_BF16 kernel on this CPU, else "portable". */
    public static String kernel() {
        try {
            return (int) ISA.invokeExact() == 1 ? "avx512bf16" : "portable";
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** True for the weights this class multiplies: BF16 in reduced mode. */
    static boolean handles(DType dtype, DotMode dot) {
        return dtype == DType.BF16 && dot == DotMode.REDUCED;
    }
}
