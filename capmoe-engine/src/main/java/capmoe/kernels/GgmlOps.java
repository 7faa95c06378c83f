package capmoe.kernels;

/**
 * The fp32 operations between the matmuls as llama.cpp's CPU backend computes them, bit for bit,
 * for {@link DotMode#REDUCED}: with the matmuls already in ggml's arithmetic ({@link QuantDot}),
 * these make the rest of a forward pass take ggml's rounding steps in ggml's order too, so a
 * Q8_0 GGUF gives llama.cpp's own values instead of values one ulp away (an ulp that moves a Q8_0
 * rounding or a router's top-k near a tie).
 *
 * <p>The reference is the llama.cpp snapshot in {@code ../shared/tools/llama.cpp} (3f545be), built
 * with {@code GGML_NATIVE=ON} on an AVX-512 CPU (Zen 4 here: AVX512F/DQ/BF16/VNNI), whose SIMD paths
 * decide several orders below; the functions here are plain Java (scalar, so any CPU gives the same
 * bits), written to reproduce that build's order:
 * <ul>
 *   <li>{@link #hsum16}: GCC's {@code _mm512_reduce_add_ps} (avx512fintrin.h {@code __MM512_REDUCE_OP}:
 *       lanes i+8 onto i, then i+4, then i+2, then lane 1 onto 0), the horizontal sum of every
 *       16-lane accumulator below;</li>
 *   <li>{@link #dotF32}: an F32 x F32 matmul output as llamafile's tinyBLAS computes it
 *       ({@code ggml/src/ggml-cpu/llamafile/sgemm.cpp} lines 558–579, {@code gemm_bloc}: one 16-lane
 *       fma accumulator per output over k in steps of 16, then {@code hsum}, line 275);</li>
 *   <li>{@link #rmsNorm}: {@code ggml_compute_forward_rms_norm_f32} and the MUL by the weight after it
 *       ({@code ggml/src/ggml-cpu/ops.cpp} lines 3824–3846: x·x rounded to float, summed in double,
 *       mean rounded to float, scale = 1.0f/sqrtf(mean + eps), y = x·scale·w);</li>
 *   <li>{@link #expf}: {@code ggml_v_expf}, the AVX-512 form ({@code ggml/src/ggml-cpu/vec.h} lines
 *       1172–1197);</li>
 *   <li>{@link #softmax}: {@code ggml_compute_forward_soft_max_f32} ({@code ops.cpp} lines 5513–5550) with
 *       {@code ggml_vec_soft_max_f32} ({@code vec.cpp} lines 531–540: per 16 elements expf in lanes and
 *       one {@code _mm512_reduce_add_ps} added to a double sum);</li>
 *   <li>{@link #swiglu}: {@code ggml_vec_swiglu_f32} ({@code vec.cpp} lines 417–422, {@code ggml_v_silu},
 *       {@code vec.h} line 1200: x / (1 + expf(0 − x)) · g).</li>
 * </ul>
 * Scalar tails (n not a multiple of 16) call libm's {@code expf}, {@code cosf} and {@code sinf} in ggml:
 * here too, the C library's own over FFM (Java's functions rounded to float where it lacks them).
 * Everything here is per row, so a row's bits never depend on the batch or the thread count.
 */
public final class GgmlOps {
    private GgmlOps() { }

    /** GCC's {@code _mm512_reduce_add_ps} of the 16 lanes at a[o..o+16). */
    public static float hsum16(float[] a, int o) {
        float t0 = a[o + 8] + a[o], t1 = a[o + 9] + a[o + 1], t2 = a[o + 10] + a[o + 2], t3 = a[o + 11] + a[o + 3];
        float t4 = a[o + 12] + a[o + 4], t5 = a[o + 13] + a[o + 5], t6 = a[o + 14] + a[o + 6], t7 = a[o + 15] + a[o + 7];
        float u0 = t4 + t0, u1 = t5 + t1, u2 = t6 + t2, u3 = t7 + t3;
        float v0 = u0 + u2, v1 = u1 + u3;
        return v0 + v1;
    }

    /**
     * sum a[ao+i]·b[bo+i], i < n, in tinyBLAS's F32 order: lane l accumulates i ≡ l (mod 16) by
     * fma, then {@link #hsum16}. n must be a multiple of 16 (tinyBLAS declines other k and ggml then
     * takes {@code ggml_vec_dot_f32}, a different order; callers check).
     *
     * @param lanes 16 floats of scratch
     */
    public static float dotF32(float[] a, int ao, float[] b, int bo, int n, float[] lanes) {
        java.util.Arrays.fill(lanes, 0, 16, 0f);
        for (int i = 0; i < n; i += 16) {
            for (int l = 0; l < 16; l++) lanes[l] = Math.fma(a[ao + i + l], b[bo + i + l], lanes[l]);
        }
        return hsum16(lanes, 0);
    }

    /** Whether {@link #dotF32} reproduces ggml for this k (tinyBLAS's F32 kernel takes it). */
    public static boolean tinyBlasF32(int k) {
        return k % 16 == 0;
    }

    /** One row: out[oo+i] = x[xo+i]·scale·w[i], ggml's RMSNorm followed by its MUL (out may alias x). */
    public static void rmsNorm(float[] x, int xo, float[] w, float eps, float[] out, int oo, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += (double) (x[xo + i] * x[xo + i]);
        float mean = (float) (sum / n);
        float scale = 1.0f / (float) Math.sqrt(mean + eps);    // sqrtf: the double root rounds to the float root
        for (int i = 0; i < n; i++) out[oo + i] = x[xo + i] * scale * w[i];
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
     * sum, tail elements one by one; finally every e times (float)(1/sum).
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
            float e = i < valid ? libmExpf(x[o + i] - max) : 0f;
            x[o + i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (i = 0; i < n; i++) x[o + i] *= inv;
    }

    /** gate[go+i] = silu(gate[go+i])·up[uo+i], i < n: ggml_vec_swiglu_f32. */
    public static void swiglu(float[] gate, int go, float[] up, int uo, int n) {
        int full = n & ~15;
        for (int i = 0; i < full; i++) {
            float x = gate[go + i];
            gate[go + i] = x / (1f + expf(0f - x)) * up[uo + i];
        }
        for (int i = full; i < n; i++) {
            float x = gate[go + i];
            gate[go + i] = x / (1f + libmExpf(-x)) * up[uo + i];
        }
    }

    /**
     * The NEOX rotation cache of one position as ggml_rope_cache_init fills it ({@code ops.cpp} lines
     * 5842–5857, rope_yarn lines 5825–5840 without yarn: ext_factor 0, freq_scale 1, attn_factor 1):
     * theta starts at the position and is multiplied by theta_scale = powf(base, −2/n_dims) once per
     * pair, in float; cache[2i] = cosf(theta), cache[2i+1] = sinf(theta), libm's own (where the C
     * library has no cosf, Java's cos rounded to float, which differs in about 2% of the values).
     */
    public static void ropeCache(int pos, int nDims, float thetaScale, float[] cache) {
        float theta = pos;
        for (int i0 = 0; i0 < nDims; i0 += 2) {
            cache[i0] = cosf(theta);
            cache[i0 + 1] = sinf(theta);
            theta *= thetaScale;
        }
    }

    /** powf(base, −2.0f/nDims), ggml_compute_forward_rope_flt's theta_scale ({@code ops.cpp} line 6010). */
    public static float ropeThetaScale(float base, int nDims) {
        return (float) Math.pow(base, -2.0f / nDims);
    }

    /**
     * NEOX rotation of x[o..o+nDims) in place with a {@link #ropeCache} (rotate_pairs, {@code ops.cpp}
     * lines 5930–5946): element i pairs with i + nDims/2. GCC (-O3 -march=native, gnu++17, so
     * -ffp-contract=fast) fuses x0·cos − x1·sin into fma(x0, cos, −(x1·sin)) and x0·sin + x1·cos into
     * fma(x0, sin, x1·cos): the only one of the four contractions that gives ggml's bits on every
     * element of the dumped layer (scripts/ops-vs-ggml).
     */
    public static void ropeNeox(float[] x, int o, int nDims, float[] cache) {
        int h = nDims / 2;
        for (int i = 0; i < h; i++) {
            float c = cache[2 * i], s = cache[2 * i + 1];
            float x0 = x[o + i], x1 = x[o + h + i];
            x[o + i] = Math.fma(x0, c, -(x1 * s));
            x[o + h + i] = Math.fma(x0, s, x1 * c);
        }
    }

    /** glibc's cosf/sinf over FFM (ggml calls them; Java's cos/sin rounded to float differ in ~2% of values). */
    private static final java.lang.invoke.MethodHandle COSF = libm("cosf"), SINF = libm("sinf"), EXPF = libm("expf");

    private static java.lang.invoke.MethodHandle libm(String name) {
        var linker = java.lang.foreign.Linker.nativeLinker();
        return linker.defaultLookup().find(name).map(f -> linker.downcallHandle(f,
                java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_FLOAT, java.lang.foreign.ValueLayout.JAVA_FLOAT))).orElse(null);
    }

    static float cosf(float x) {
        try {
            return COSF != null ? (float) COSF.invokeExact(x) : (float) Math.cos(x);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** libm's expf (ggml's scalar tails), else Java's exp rounded to float. */
    static float libmExpf(float x) {
        try {
            return EXPF != null ? (float) EXPF.invokeExact(x) : (float) Math.exp(x);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    static float sinf(float x) {
        try {
            return SINF != null ? (float) SINF.invokeExact(x) : (float) Math.sin(x);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }


    /**
     * ggml_vec_dot_f32 (AVX-512 form, {@code vec.cpp} lines 104–124): four 16-lane fma accumulators over
     * k in steps of 64, added pairwise (0+2, 1+3, then 0+1: GGML_F32x16_REDUCE, {@code simd-mappings.h}
     * lines 464–479) and {@link #hsum16}ed, then the leftover k one by one into that float sum.
     *
     * @param lanes 64 floats of scratch
     */
    public static float vecDotF32(float[] a, int ao, float[] b, int bo, int n, float[] lanes) {
        int np = n & ~63;
        java.util.Arrays.fill(lanes, 0, 64, 0f);
        for (int i = 0; i < np; i += 64) {
            for (int l = 0; l < 64; l++) lanes[l] = Math.fma(a[ao + i + l], b[bo + i + l], lanes[l]);
        }
        for (int l = 0; l < 16; l++) {
            lanes[l] += lanes[32 + l];
            lanes[16 + l] += lanes[48 + l];
            lanes[l] += lanes[16 + l];
        }
        float sum = hsum16(lanes, 0);
        for (int i = np; i < n; i++) sum += a[ao + i] * b[bo + i];     // not contracted in that build (measured)
        return sum;
    }
}
