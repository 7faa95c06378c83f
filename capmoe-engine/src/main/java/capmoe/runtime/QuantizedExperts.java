package capmoe.runtime;

import capmoe.kernels.Activations;
import capmoe.kernels.DotMode;
import capmoe.kernels.Matrix;
import capmoe.kernels.NativeKernels;
import capmoe.kernels.QuantDot;
import capmoe.kernels.QuantMatMul;
import capmoe.runtime.SwiGluExperts.Expert;

import java.util.List;

/**
 * The Q8_0/Q4_0 part of {@link SwiGluExperts#runAll}, whose steps (task layout, gather, SwiGLU
 * epilogue, down, scatter) are shared with the float experts: {@link QuantMatMul#gemm}'s panel
 * kernels on {@link Matrix#quantPanels()} (prefill: each panel's K block decoded to fp32 once for
 * all the task's rows; decode: decoded in the lanes), with the two Q8_0 roundings of
 * {@link QuantMatMul#matmul}:
 * <ol>
 *   <li>gather: each slot's row of x rounded to Q8_0 ({@link QuantMatMul#dequantizedActivations});</li>
 *   <li>gate/up with SwiGLU fused into the epilogue, and each task's hidden columns rounded to Q8_0
 *       in place (blocks of 32: a task's columns start at a multiple of 64 and I is a multiple of
 *       32, so each block is rounded whole, as the row-at-once rounding does it);</li>
 *   <li>down into y at the experts' slots.</li>
 * </ol>
 * Each output goes through exactly the operations of {@link SwiGluExperts#apply} (per expert
 * {@link QuantMatMul#matmul} ×3 and {@link Activations#siluMul}): the same Q8_0 rounding of each
 * row, the same chain per output (any rows, any path), the same SwiGLU formula. So the grouped and
 * per-expert paths agree bit for bit and a row's result never depends on the rows or experts beside
 * it (the EP and data-parallel equality guarantees).
 *
 * <p>{@link #REDUCED} ({@code --dot reduced}) is the same with {@link QuantDot}: each gathered or
 * hidden row becomes Q8_0 activation blocks ({@link QuantDot#quantize}) written over its own floats,
 * block b at byte 128·b of the row ({@link QuantDot#IN_PLACE}: inside the 32 floats it was made
 * from, so a task quantizes its whole blocks of hidden columns in place without touching another
 * task's), and {@link QuantDot#gemm}'s native kernels multiply on {@link Matrix#quantDotPanels()};
 * again the per-expert {@code apply}'s bits exactly.
 */
enum QuantizedExperts implements SwiGluExperts.Gemms {
    /** {@link DotMode#EXACT}: {@link QuantMatMul}. */
    INSTANCE,
    /** {@link DotMode#REDUCED}: {@link QuantDot}, llama.cpp's arithmetic. */
    REDUCED {
        @Override
        public void gather(float[] x, int xo, int h, float[] out, int oo) {
            QuantDot.quantize(x, xo, h, NativeKernels.heap(out), 4L * oo, QuantDot.IN_PLACE);
        }

        @Override
        public void gemm(float[] x, int x0, int xs, int rows, Matrix w, int j0, int j1, float[] y, int y0, int ys) {
            QuantDot.gemm(NativeKernels.heap(x), 4L * x0, 4L * xs, QuantDot.IN_PLACE, rows, w.quantDotPanels(), j0, j1, y, y0, ys);
        }

        @Override
        public void hidden(float[] act, int o, int n) {
            QuantDot.quantize(act, o, n, NativeKernels.heap(act), 4L * o, QuantDot.IN_PLACE);
        }
    };

    /** The constant for these experts' {@link DotMode} (every matrix of a checkpoint has the same). */
    static QuantizedExperts of(List<Expert> experts) {
        return experts.get(0).gate().dot() == DotMode.REDUCED ? REDUCED : INSTANCE;
    }

    /** True when every matrix of every expert is Q8_0 or Q4_0 (the formats this path reads). */
    static boolean applies(List<Expert> experts) {
        for (Expert e : experts) {
            if (!e.gate().dtype().quantized() || !e.up().dtype().quantized() || !e.down().dtype().quantized()) return false;
        }
        return !experts.isEmpty();
    }

    @Override
    public void gather(float[] x, int xo, int h, float[] out, int oo) {
        QuantMatMul.dequantizedActivations(x, xo, h, out, oo);
    }

    @Override
    public void gemm(float[] x, int x0, int xs, int rows, Matrix w, int j0, int j1, float[] y, int y0, int ys) {
        QuantMatMul.gemm(x, x0, xs, rows, w.quantPanels(), j0, j1, y, y0, ys);
    }

    @Override
    public void hidden(float[] act, int o, int n) {
        QuantMatMul.dequantizedActivations(act, o, n, act, o);
    }
}
