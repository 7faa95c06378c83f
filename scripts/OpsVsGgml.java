import capmoe.kernels.DotMode;
import capmoe.kernels.GgmlOps;
import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.weights.DType;
import capmoe.routing.GgmlMath;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * capmoe's --dot reduced ops (its matmul kernels, {@link GgmlOps} between them) against llama.cpp's
 * own intermediate tensors of an OLMoE layer, op by op: each op is given ggml's inputs (as dumped)
 * and its output compared bit for bit with ggml's. The dump comes from
 * {@code DUMP=DIR scripts/llamacpp-logits.cpp ...} (index.tsv + raw tensors); scripts/ops-vs-ggml makes
 * it and runs this (with the CLI jar's classpath: the native kernels).
 * Prints one line per op: elements compared, elements whose bits differ, the largest difference in ulps.
 */
public class OpsVsGgml {
    record T(String file, String name, String op, String type, long[] ne, long[] nb, int[] params, String[] src) { }

    static List<T> index = new ArrayList<>();
    static Path dir;

    public static void main(String[] args) throws IOException {
        dir = Path.of(args[0]);
        int layer = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        for (String line : Files.readAllLines(dir.resolve("index.tsv"))) {
            String[] f = line.split("\t");
            long[] ne = new long[4], nb = new long[4];
            int[] p = new int[4];
            for (int i = 0; i < 4; i++) { ne[i] = Long.parseLong(f[4 + i]); nb[i] = Long.parseLong(f[8 + i]); p[i] = Integer.parseInt(f[12 + i]); }
            index.add(new T(f[0], f[1], f[2], f[3], ne, nb, p, new String[] {f[16], f[17], f[18]}));
        }
        String l = "-" + layer;
        float eps = Float.intBitsToFloat(node("norm" + l, "RMS_NORM", 0).params[0]);
        int hidden = (int) node("attn_norm" + l, "MUL", 0).ne[0], tokens = (int) node("attn_norm" + l, "MUL", 0).ne[1];

        // 0. the matmuls, capmoe's --dot reduced kernels on ggml's input: a dense one (attn_q: tinyBLAS in
        //    ggml) and the first token's first expert of ffn_moe_gate (mul_mat_id: ggml's vec_dot)
        T mq = node("Qcur" + l, "MUL_MAT", 0);
        Matrix wq = matrix(byFile(mq.src[0]), 0);
        float[] yq = new float[(int) (mq.ne[0] * mq.ne[1])];
        MatMul.matmul(f32(byFile(mq.src[1])), tokens, wq, yq);
        report("Qcur" + l + " (MUL_MAT " + wq.dtype() + ")", yq, f32(mq));
        T mg = node("ffn_moe_gate" + l, "MUL_MAT_ID", 0);
        int[] topk = i32(byFile(mg.src[2]));
        int ff = (int) mg.ne[0], used = (int) mg.ne[1];
        Matrix we = matrix(byFile(mg.src[0]), topk[0]);
        float[] xe = f32(byFile(mg.src[1])), ye = new float[tokens * ff], wantE = new float[tokens * ff], gate = f32(mg);
        int rowsE = 0;
        float[] xs = new float[tokens * hidden];
        for (int t = 0; t < tokens; t++)
            for (int k = 0; k < used; k++)
                if (topk[t * used + k] == topk[0]) {
                    System.arraycopy(xe, t * hidden, xs, rowsE * hidden, hidden);
                    System.arraycopy(gate, (t * used + k) * ff, wantE, rowsE * ff, ff);
                    rowsE++;
                }
        MatMul.matmulExpert(xs, rowsE, we, ye);
        report("ffn_moe_gate" + l + " expert " + topk[0] + " (MUL_MAT_ID " + we.dtype() + ")",
                java.util.Arrays.copyOf(ye, rowsE * ff), java.util.Arrays.copyOf(wantE, rowsE * ff));
        // 1. RMSNorm + MUL: attn_norm, Qcur_normed, Kcur_normed, ffn_norm
        for (String name : new String[] {"attn_norm", "Qcur_normed", "Kcur_normed", "ffn_norm"}) {
            T mul = node(name + l, "MUL", 0);
            T norm = byFile(mul.src[0]);
            float[] x = f32(byFile(norm.src[0])), w = f32(byFile(mul.src[1])), want = f32(mul);
            int n = (int) mul.ne[0];
            float[] got = new float[want.length];
            for (int r = 0; r < want.length / n; r++) GgmlOps.rmsNorm(x, r * n, w, eps, got, r * n, n);
            report(name + l + " (RMS_NORM, MUL)", got, want);
        }
        // 2. RoPE NEOX of Q and K
        T rq = node("Qcur" + l, "ROPE", 0);
        int headDim = (int) rq.ne[0];
        int[] pos = i32(byFile(rq.src[1]));
        float thetaScale = GgmlOps.ropeThetaScale(10000f, headDim);
        float[] cos = new float[headDim / 2], sin = new float[headDim / 2];
        for (String name : new String[] {"Qcur", "Kcur"}) {
            T rope = node(name + l, "ROPE", 0);
            float[] x = f32(byFile(rope.src[0])), want = f32(rope);
            int heads = (int) rope.ne[1];
            for (int t = 0; t < tokens; t++) {
                GgmlOps.ropeCache(pos[t], headDim / 2, thetaScale, cos, sin, 0);
                for (int h = 0; h < heads; h++) GgmlOps.ropeNeox(x, (t * heads + h) * headDim, headDim, cos, sin, 0);
            }
            report(name + l + " (ROPE)", x, want);
        }
        // 3. KQ = K·Q per head (tinyBLAS F32), softmax with the causal mask, KQV
        float[] q = f32(rq), k = f32(node("Kcur" + l, "ROPE", 0)), v = f32(node("Vcur" + l, "MUL_MAT", 0));
        T kqNode = node("kq" + l, "MUL_MAT", 0);
        int nkv = (int) kqNode.ne[0], heads = (int) kqNode.ne[2];
        float[] lanes = new float[64];
        float[] kq = new float[nkv * tokens * heads];
        for (int h = 0; h < heads; h++)
            for (int t = 0; t < tokens; t++)
                for (int j = 0; j < nkv; j++)
                    kq[(h * tokens + t) * nkv + j] = j <= pos[t]
                            ? GgmlOps.vecDotF32(k, (j * heads + h) * headDim, q, (t * heads + h) * headDim, headDim, lanes) : 0f;
        float[] kqWant = f32(kqNode);
        for (int h = 0; h < heads; h++) for (int t = 0; t < tokens; t++) for (int j = pos[t] + 1; j < nkv; j++) kqWant[(h * tokens + t) * nkv + j] = 0f;
        report("kq" + l + " (MUL_MAT F32, causal part)", kq, kqWant);
        T sm = node("kq_soft_max" + l, "SOFT_MAX", 0);
        float scale = Float.intBitsToFloat(sm.params[0]);
        float[] p = f32(kqNode);
        for (int h = 0; h < heads; h++) for (int t = 0; t < tokens; t++) GgmlMath.softmax(p, (h * tokens + t) * nkv, nkv, pos[t] + 1, scale, lanes);
        report("kq_soft_max" + l + " (SOFT_MAX, mask)", p, f32(sm));
        T kqvNode = node("kqv" + l, "MUL_MAT", 0);
        float[] pw = f32(sm), vt = new float[nkv], kqv = new float[headDim * tokens * heads];
        for (int h = 0; h < heads; h++)
            for (int d = 0; d < headDim; d++) {
                for (int j = 0; j < nkv; j++) vt[j] = j < tokens ? v[j * heads * headDim + h * headDim + d] : 0f;
                for (int t = 0; t < tokens; t++) kqv[(h * tokens + t) * headDim + d] = GgmlOps.dotF32(vt, 0, pw, (h * tokens + t) * nkv, nkv, lanes);
            }
        report("kqv" + l + " (MUL_MAT F32)", kqv, f32(kqvNode));
        // 4. router logits (F32 weights, tinyBLAS), probabilities
        T logitsNode = node("ffn_moe_logits" + l, "MUL_MAT", 0);
        float[] gw = f32(byFile(logitsNode.src[0])), xn = f32(byFile(logitsNode.src[1]));
        int experts = (int) logitsNode.ne[0];
        float[] logits = new float[experts * tokens];
        for (int t = 0; t < tokens; t++) for (int e = 0; e < experts; e++) logits[t * experts + e] = GgmlOps.dotF32(gw, e * hidden, xn, t * hidden, hidden, lanes);
        report("ffn_moe_logits" + l + " (MUL_MAT F32)", logits, f32(logitsNode));
        T probsNode = node("ffn_moe_probs" + l, "SOFT_MAX", 0);
        float[] probs = f32(logitsNode);
        for (int t = 0; t < tokens; t++) GgmlMath.softmax(probs, t * experts, experts, experts, 1f, lanes);
        report("ffn_moe_probs" + l + " (SOFT_MAX)", probs, f32(probsNode));
        // 5. SwiGLU
        T sw = node("ffn_moe_swiglu" + l, "SWIGLU", 0);
        float[] g = f32(byFile(sw.src[0])), u = f32(byFile(sw.src[1]));
        GgmlOps.swiglu(g, 0, u, 0, g.length);
        report("ffn_moe_swiglu" + l + " (SWIGLU)", g, f32(sw));
    }

    /** Matrix {@code index} (ne2) of a dumped weight tensor, multiplied with --dot reduced. */
    static Matrix matrix(T t, int index) {
        DType dtype = switch (t.type) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            case "q8_0" -> DType.Q8_0;
            case "q4_0" -> DType.Q4_0;
            default -> throw new IllegalArgumentException(t.name + ": type " + t.type);
        };
        ByteBuffer b = bytes(t);
        MemorySegment seg = Arena.global().allocate(t.nb[2]);
        seg.copyFrom(MemorySegment.ofBuffer(b).asSlice(index * t.nb[2], t.nb[2]));
        Matrix m = new Matrix(t.name, dtype, (int) t.ne[1], (int) t.ne[0], seg, DotMode.REDUCED);
        return dtype.quantized() ? Matrix.packedQuantized(new Matrix(t.name, dtype, (int) t.ne[1], (int) t.ne[0], seg), DotMode.REDUCED) : m;
    }

    static T node(String name, String op, int nth) {
        int seen = 0;
        for (T t : index) if (t.name.equals(name) && t.op.equals(op) && seen++ == nth) return t;
        throw new IllegalArgumentException("no node " + name + " " + op + " in the dump");
    }

    static T byFile(String file) {
        for (T t : index) if (t.file.equals(file)) return t;
        throw new IllegalArgumentException("no tensor file " + file + " in the dump");
    }

    static ByteBuffer bytes(T t) {
        try {
            return ByteBuffer.wrap(Files.readAllBytes(dir.resolve(t.file))).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The tensor's elements in logical order (ne0 fastest), following its strides. */
    static float[] f32(T t) {
        if (!t.type.equals("f32")) throw new IllegalArgumentException(t.name + " is " + t.type);
        ByteBuffer b = bytes(t);
        float[] out = new float[(int) (t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3])];
        int i = 0;
        for (long i3 = 0; i3 < t.ne[3]; i3++) for (long i2 = 0; i2 < t.ne[2]; i2++) for (long i1 = 0; i1 < t.ne[1]; i1++)
            for (long i0 = 0; i0 < t.ne[0]; i0++) out[i++] = b.getFloat((int) (i0 * t.nb[0] + i1 * t.nb[1] + i2 * t.nb[2] + i3 * t.nb[3]));
        return out;
    }

    /** An i32 tensor of up to 2 dimensions in logical order, following its strides. */
    static int[] i32(T t) {
        ByteBuffer b = bytes(t);
        int[] out = new int[(int) (t.ne[0] * t.ne[1])];
        for (int i1 = 0, i = 0; i1 < t.ne[1]; i1++) for (int i0 = 0; i0 < t.ne[0]; i0++) out[i++] = b.getInt((int) (i0 * t.nb[0] + i1 * t.nb[1]));
        return out;
    }

    static void report(String what, float[] got, float[] want) {
        long diff = 0, maxUlp = 0;
        int first = -1;
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(want[i])) {
                diff++;
                if (first < 0) first = i;
                maxUlp = Math.max(maxUlp, Math.abs((long) Float.floatToIntBits(got[i]) - Float.floatToIntBits(want[i])));
            }
        }
        System.out.printf("%-40s %9d values, %7d differ%s%n", what, want.length, diff,
                diff == 0 ? "" : String.format(", max %d ulp (first at %d: %s vs ggml %s)", maxUlp, first, got[first], want[first]));
    }
}
