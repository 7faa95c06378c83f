package capmoe.kernels;

import capmoe.routing.GgmlMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

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
 *   <li>{@link GgmlMath} (capmoe-routing, shared with the router's softmax): {@code hsum16}, GCC's
 *       {@code _mm512_reduce_add_ps} (avx512fintrin.h {@code __MM512_REDUCE_OP}: lanes i+8 onto i, then
 *       i+4, then i+2, then lane 1 onto 0), the horizontal sum of every 16-lane accumulator below;
 *       {@code expf}, {@code ggml_v_expf}'s AVX-512 form ({@code ggml/src/ggml-cpu/vec.h} lines 1172–1197);
 *       {@code softmax}, {@code ggml_compute_forward_soft_max_f32} ({@code ops.cpp} lines 5513–5550) with
 *       {@code ggml_vec_soft_max_f32} ({@code vec.cpp} lines 531–540: per 16 elements expf in lanes and
 *       one {@code _mm512_reduce_add_ps} added to a double sum);</li>
 *   <li>{@link #dotF32}: an F32 x F32 matmul output as llamafile's tinyBLAS computes it
 *       ({@code ggml/src/ggml-cpu/llamafile/sgemm.cpp} lines 558–579, {@code gemm_bloc}: one 16-lane
 *       fma accumulator per output over k in steps of 16, then {@code hsum}, line 275): KQV, F32 routers;</li>
 *   <li>{@link #vecDotF32}: {@code ggml_vec_dot_f32} (KQ: ggml's Q is a permuted view, so the matmul
 *       is not tinyBLAS's);</li>
 *   <li>{@link #rmsNorm}: {@code ggml_compute_forward_rms_norm_f32} and the MUL by the weight after it
 *       ({@code ggml/src/ggml-cpu/ops.cpp} lines 3824–3846: x·x rounded to float, summed in double,
 *       mean rounded to float, scale = 1.0f/sqrtf(mean + eps), y = x·scale·w);</li>
 *   <li>{@link #ropeCache}, {@link #ropeNeox}: ggml's RoPE cache and NEOX rotation;</li>
 *   <li>{@link #swiglu}: {@code ggml_vec_swiglu_f32} ({@code vec.cpp} lines 417–422, {@code ggml_v_silu},
 *       {@code vec.h} line 1200: x / (1 + expf(0 − x)) · g).</li>
 * </ul>
 * Scalar tails (n not a multiple of 16) and the RoPE cache call libm's {@code expf}, {@code cosf} and
 * {@code sinf} in ggml: here too, the C library's own over FFM (Java's functions rounded to float where
 * it lacks them).
 * Everything here is per row, so a row's bits never depend on the batch or the thread count.
 */
public final class GgmlOps {
    private GgmlOps() { }

    private static final VectorSpecies<Float> F16 = FloatVector.SPECIES_512;
    /** Whether 16-float vectors are native here (else {@link #dotF32} loops over the lanes). */
    private static final boolean WIDE = FloatVector.SPECIES_PREFERRED.length() >= 16;

    /**
     * sum a[ao+i]·b[bo+i], i < n, in tinyBLAS's F32 order: lane l accumulates i ≡ l (mod 16) by
     * fma, then {@link GgmlMath#hsum16}. n must be a multiple of 16 (tinyBLAS declines other k and ggml then
     * takes {@code ggml_vec_dot_f32}, a different order; callers check).
     *
     * @param lanes 16 floats of scratch
     */
    public static float dotF32(float[] a, int ao, float[] b, int bo, int n, float[] lanes) {
        if (WIDE) {                                              // the 16 lanes as one vector: the same chains
            FloatVector acc = FloatVector.zero(F16);
            for (int i = 0; i < n; i += 16) acc = FloatVector.fromArray(F16, a, ao + i).fma(FloatVector.fromArray(F16, b, bo + i), acc);
            acc.intoArray(lanes, 0);
            return GgmlMath.hsum16(lanes, 0);
        }
        java.util.Arrays.fill(lanes, 0, 16, 0f);
        for (int i = 0; i < n; i += 16) {
            for (int l = 0; l < 16; l++) lanes[l] = Math.fma(a[ao + i + l], b[bo + i + l], lanes[l]);
        }
        return GgmlMath.hsum16(lanes, 0);
    }

    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[64]);

    /** This thread's 64 floats of lane scratch for the functions here (no allocation per call). */
    public static float[] lanes() {
        return LANES.get();
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

    /** gate[go+i] = silu(gate[go+i])·up[uo+i], i < n: ggml_vec_swiglu_f32 over one row of n. */
    public static void swiglu(float[] gate, int go, float[] up, int uo, int n) {
        for (int i = 0; i < n; i++) gate[go + i] = swiglu(gate[go + i], up[uo + i], i, n);
    }

    /**
     * One element of {@link #swiglu}: silu(g)·u for column {@code col} of a row of {@code n}; the
     * columns of whole 16-lane vectors take {@code ggml_v_silu}, the row's tail libm's expf, as in ggml.
     */
    public static float swiglu(float g, float u, int col, int n) {
        float e = col < (n & ~15) ? GgmlMath.expf(0f - g) : libmExpf(-g);
        return g / (1f + e) * u;
    }

    /**
     * The NEOX rotation cache of one position as ggml_rope_cache_init fills it ({@code ops.cpp} lines
     * 5842–5857, rope_yarn lines 5825–5840 without yarn: ext_factor 0, freq_scale 1, attn_factor 1):
     * theta starts at the position and is multiplied by theta_scale = powf(base, −2/n_dims) once per
     * pair, in float; cos[co+i] = cosf(theta), sin[co+i] = sinf(theta) for the half = n_dims/2 pairs,
     * libm's own (where the C library has no cosf, Java's cos rounded to float, which differs in about
     * 2% of the values).
     */
    public static void ropeCache(int pos, int half, float thetaScale, float[] cos, float[] sin, int co) {
        float theta = pos;
        for (int i = 0; i < half; i++) {
            cos[co + i] = cosf(theta);
            sin[co + i] = sinf(theta);
            theta *= thetaScale;
        }
    }

    /** powf(base, −2.0f/nDims), ggml_compute_forward_rope_flt's theta_scale ({@code ops.cpp} line 6010). */
    public static float ropeThetaScale(float base, int nDims) {
        return (float) Math.pow(base, -2.0f / nDims);
    }

    /**
     * NEOX rotation of x[o..o+nDims) in place with a {@link #ropeCache} at cos/sin[co..] (rotate_pairs,
     * {@code ops.cpp} lines 5930–5946): element i pairs with i + nDims/2. GCC (-O3 -march=native,
     * gnu++17, so -ffp-contract=fast) fuses x0·cos − x1·sin into fma(x0, cos, −(x1·sin)) and
     * x0·sin + x1·cos into fma(x0, sin, x1·cos): the only one of the four contractions that gives
     * ggml's bits on every element of the dumped layer (scripts/ops-vs-ggml).
     */
    public static void ropeNeox(float[] x, int o, int nDims, float[] cos, float[] sin, int co) {
        int h = nDims / 2;
        for (int i = 0; i < h; i++) {
            float c = cos[co + i], s = sin[co + i];
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
     * lines 464–479) and {@link GgmlMath#hsum16}ed, then the leftover k one by one into that float sum.
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
        float sum = GgmlMath.hsum16(lanes, 0);
        for (int i = np; i < n; i++) sum += a[ao + i] * b[bo + i];     // not contracted in that build (measured)
        return sum;
    }
}
