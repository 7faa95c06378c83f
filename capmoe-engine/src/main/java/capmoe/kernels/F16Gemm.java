package capmoe.kernels;

import capmoe.weights.DType;

import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The exact mode's F16 prefill kernel in C ({@code capmoe-engine/src/main/c/f16_gemm.c}, over FFM,
 * {@link NativeKernels}): y = x W^T on {@link Panels}' F16 panels as Java packs them, with the
 * weights widened by AVX-512's vcvtph2ps straight from memory inside a 12-row register tile, where
 * {@link MatMul}'s Java path widens each K block into an fp32 scratch first and then runs its F32
 * tiles on it (a second pass over the block, and twice its bytes in L1).
 *
 * <p><b>Same bits as the Java path.</b> Every output is MatMul's single fused multiply-add chain in k
 * order ({@link MatMul#reference}), the half widened exactly, whatever the tile height, row count,
 * column range, K blocking or thread: a row's result never depends on the batch, and the exact
 * mode's bits do not change. {@code F16GemmTest} checks the AVX-512 kernel and the portable C one
 * against the Java path bit for bit on random ragged shapes.
 *
 * <p>{@link MatMul} sends an F16 prefill call (at least {@code TILE_ROWS / 2} rows) here when
 * {@link #ACTIVE}: the library is loaded and runs its AVX-512 kernel for this machine's panel width.
 * Otherwise (no C compiler at build time, no AVX-512, AVX2's 16-column panels) the Java path runs,
 * with the same bits. Decode (fewer rows) stays in Java ({@code MatMul.row1x4F16}). The threads
 * stay Java's: each native call computes a column range for all rows on its thread.
 */
public final class F16Gemm {
    private F16Gemm() { }

    private static final int NR = Panels.NR;

    private static final FunctionDescriptor GEMM_TYPE = FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle GEMM = NativeKernels.function("capmoe_f16_gemm", GEMM_TYPE, true);
    private static final MethodHandle GEMM_PORTABLE = NativeKernels.function("capmoe_f16_gemm_portable", GEMM_TYPE, true);
    private static final MethodHandle ISA = NativeKernels.function("capmoe_f16_isa", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);

    /** True when {@link MatMul} multiplies F16 prefill calls here: the library is loaded and has the AVX-512 kernel for {@link Panels#NR} columns. */
    public static final boolean ACTIVE = NativeKernels.available() && isa() == 1;

    /**
     * The kernel on one column range, on the calling thread, with {@link MatMul#gemm}'s contract:
     * for rows r &lt; {@code rows} of x (row r at {@code x0 + r*xs}, K = w.k() floats) and columns j
     * in [j0, j1) ({@code j0} a multiple of {@link Panels#NR}), {@code y[y0 + r*ys + j - j0] = x_r · W[j]}.
     * w holds F16 panels.
     */
    static void gemm(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        call(GEMM, x, x0, xs, rows, w, j0, j1, y, y0, ys);
    }

    /** {@link #gemm} on the portable C kernel whatever the CPU (tests compare it with the AVX-512 one and the Java path). */
    static void gemmPortable(float[] x, int x0, int xs, int rows, Panels w, int j0, int j1, float[] y, int y0, int ys) {
        call(GEMM_PORTABLE, x, x0, xs, rows, w, j0, j1, y, y0, ys);
    }

    private static void call(MethodHandle kernel, float[] x, int x0, int xs, int rows, Panels w, int j0, int j1,
                             float[] y, int y0, int ys) {
        if (w.dtype() != DType.F16) throw new IllegalArgumentException("f16 gemm: panels are " + w.dtype() + ", not F16");
        if (j0 % NR != 0) throw new IllegalArgumentException("f16 gemm: first column " + j0 + " is not a multiple of " + NR);
        if (rows <= 0 || j0 >= j1) return;
        if (j1 > w.n() || x0 < 0 || y0 < 0 || xs < w.k() || ys < j1 - j0
                || (long) x0 + (long) (rows - 1) * xs + w.k() > x.length || (long) y0 + (long) (rows - 1) * ys + (j1 - j0) > y.length) {
            throw new IllegalArgumentException("f16 gemm: " + rows + " rows x columns [" + j0 + ", " + j1 + ") of [" + w.n() + " x " + w.k()
                    + "] do not fit x (" + x.length + " floats from " + x0 + ", stride " + xs + ") or y (" + y.length + " from " + y0 + ", stride " + ys + ")");
        }
        try {
            kernel.invokeExact(NativeKernels.heap(x), (long) x0, xs, rows, w.k(), w.data(), NR, j0, j1, NativeKernels.heap(y), (long) y0, ys);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** 1 when {@link #gemm} runs the AVX-512 kernel on this CPU for {@link Panels#NR}-column panels, else 0 (the portable one). */
    private static int isa() {
        try {
            return (int) ISA.invokeExact(NR);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** "avx512" when F16 prefill runs the C kernel on this machine, else "java" (MatMul's widening path). */
    public static String kernel() {
        return ACTIVE ? "avx512" : "java";
    }
}
