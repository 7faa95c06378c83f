package capmoe.routing;

/**
 * llama.cpp's CPU arithmetic for the pieces a router and an attention softmax share: ggml's
 * vectorized {@code expf}, the horizontal sum of a 16-lane accumulator, and its softmax row, bit
 * for bit as the llama.cpp snapshot in {@code ../shared/tools/llama.cpp} (3f545be) computes them when
 * built with {@code GGML_NATIVE=ON} on an AVX-512 CPU (its AVX-512 code paths decide the orders);
 * plain Java, so every CPU gives these bits. Used by {@link Gating.Softmax} with {@code ggml} set
 * ({@code --dot reduced}) and by the engine's {@code capmoe.kernels.GgmlOps}, which checks all of them
 * against tensors llama.cpp computed ({@code GgmlOpsTest}, {@code scripts/ops-vs-ggml}).
 */
public final class GgmlMath {
    private GgmlMath() { }

    /** GCC's {@code _mm512_reduce_add_ps} of the 16 lanes at a[o..o+16). */
    public static float hsum16(float[] a, int o) {
        float t0 = a[o + 8] + a[o], t1 = a[o + 9] + a[o + 1], t2 = a[o + 10] + a[o + 2], t3 = a[o + 11] + a[o + 3];
        float t4 = a[o + 12] + a[o + 4], t5 = a[o + 13] + a[o + 5], t6 = a[o + 14] + a[o + 6], t7 = a[o + 15] + a[o + 7];
        float u0 = t4 + t0, u1 = t5 + t1, u2 = t6 + t2, u3 = t7 + t3;
        float v0 = u0 + u2, v1 = u1 + u3;
        return v0 + v1;
    }

    private static final float EXP_SHIFT = 0x1.8p23f;

    /** {@code ggml_v_expf} for one lane (AVX-512 form: the result scaled by {@code vscalefps}). */
    public static float expf(float x) {
        float z = Math.fma(x, 0x1.715476p+0f, EXP_SHIFT);
        float n = z - EXP_SHIFT;
        float b = Math.fma(-n, 0x1.7f7d1cp-20f, Math.fma(-n, 0x1.62e4p-1f, x));
        float u = b * b;
        float j = Math.fma(Math.fma(Math.fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, Math.fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                u, Math.fma(0x1.ffffecp-1f, b, 1.0f));
        if (Math.abs(n) > 192) return n <= 0 ? 0f : Float.POSITIVE_INFINITY;
        return Math.scalb(j, (int) n);                            // j·2^n rounded once, as vscalefps
    }

    /**
     * One softmax row in place over x[o..o+n) (ggml_compute_forward_soft_max_f32, no mask): x·scale,
     * max, then per 16 elements e = expf(x − max) and the lanes' {@link #hsum16} added to a double
     * sum, tail elements one by one (ggml: libm's expf; here Java's exp rounded to float, which can
     * differ by an ulp: none of OLMoE's widths, 32 or 64 experts and the 16-padded attention rows,
     * has a tail); finally every e times (float)(1/sum).
     *
     * @param valid elements [o, o+valid) take part; [o+valid, o+n) are ggml's masked (−inf) positions,
     *              written as 0 (their lanes add exact zeros, as in ggml)
     * @param lanes 16 floats of scratch
     */
    public static void softmax(float[] x, int o, int n, int valid, float scale, float[] lanes) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < valid; i++) {
            x[o + i] *= scale;
            max = Math.max(max, x[o + i]);
        }
        for (int i = valid; i < n; i++) x[o + i] = 0f;
        double sum = 0;
        int i = 0;
        for (; i + 16 <= n; i += 16) {
            for (int l = 0; l < 16; l++) {
                float e = i + l < valid ? expf(x[o + i + l] - max) : 0f;
                x[o + i + l] = e;
                lanes[l] = e;
            }
            sum += hsum16(lanes, 0);
        }
        for (; i < n; i++) {
            float e = i < valid ? (float) Math.exp(x[o + i] - max) : 0f;
            x[o + i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (i = 0; i < n; i++) x[o + i] *= inv;
    }

}
