/*
 * capmoe's instruction-peak loops for `capmoe bench` (capmoe.kernels.MachinePeak): the multiply-add
 * throughput of the arithmetic that --dot reduced's kernels run, on the calling thread, with no
 * memory traffic: NCHAIN independent accumulator chains (more than latency x issue width on
 * current x86 cores, so the loop is bound by throughput, not latency), operands in registers.
 *
 *   kind 1, bf16 dot (bf16_dot.c's kernels): level 2 = AVX512_BF16 vdpbf16ps on zmm (16 lanes x 2
 *     bf16 products = 32 multiply-adds per instruction); level 0 = the portable kernel's scalar
 *     form (two fp32 multiply-adds per pair, as the compiler builds it).
 *   kind 2, int8 dot (quant_dot.c's kernels): level 2 = AVX-512 VNNI vpdpbusd on zmm (16 lanes x 4
 *     u8 x s8 products = 64 multiply-adds); level 1 = the AVX2 kernel's vpmaddubsw + vpmaddwd +
 *     vpaddd on ymm (32 multiply-adds per three instructions); level 0 = int32 multiply-adds in C.
 *
 * The level is the kernel path in use (QuantDot.isa / ReducedMatMul.kernel), so the peak is that of
 * the instructions the model's matmuls actually run. A level the CPU lacks falls to the one below.
 */
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PK_X86 1
#define PK_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define PK_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define PK_AVX2 __attribute__((target("avx2")))
#endif

#define NCHAIN 12

static int cpu_has(int kind, int level) {
#if defined(PK_X86)
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (kind == 1 && level == 2) return avx512 && __builtin_cpu_supports("avx512bf16");
    if (kind == 2 && level == 2) return avx512 && __builtin_cpu_supports("avx512vnni");
    if (kind == 2 && level == 1) return __builtin_cpu_supports("avx2");
#endif
    (void)kind;
    return level == 0;
}

/* The level capmoe_peak_run runs for (kind, level): level itself, or the best below it the CPU has. */
int capmoe_peak_level(int kind, int level) {
    if (kind != 1 && kind != 2) return -1;
    for (int l = level > 2 ? 2 : level; l > 0; l--) if (cpu_has(kind, l)) return l;
    return 0;
}

#if defined(PK_X86)
PK_BF16 static void bf16_loop(int64_t iters, float *io) {
    __m512 a[NCHAIN];
    for (int c = 0; c < NCHAIN; c++) a[c] = _mm512_set1_ps(io[c]);
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3F803F80), w = (__m512bh)_mm512_set1_epi32(0x3F7F3F7F);  /* 1.0, 0.996 */
    for (int64_t i = 0; i < iters; i++) {
        for (int c = 0; c < NCHAIN; c++) a[c] = _mm512_dpbf16_ps(a[c], x, w);
    }
    for (int c = 0; c < NCHAIN; c++) io[c] = _mm512_reduce_add_ps(a[c]);
}

PK_VNNI static void vnni_loop(int64_t iters, float *io) {
    __m512i a[NCHAIN];
    for (int c = 0; c < NCHAIN; c++) a[c] = _mm512_set1_epi32((int32_t)io[c]);
    __m512i u = _mm512_set1_epi8((char)0x81), s = _mm512_set1_epi8(-3);
    for (int64_t i = 0; i < iters; i++) {
        for (int c = 0; c < NCHAIN; c++) a[c] = _mm512_dpbusd_epi32(a[c], u, s);
    }
    for (int c = 0; c < NCHAIN; c++) io[c] = (float)_mm512_reduce_add_epi32(a[c]);
}

PK_AVX2 static void avx2_loop(int64_t iters, float *io) {
    __m256i a[NCHAIN];
    for (int c = 0; c < NCHAIN; c++) a[c] = _mm256_set1_epi32((int32_t)io[c] + c);
    __m256i u = _mm256_set1_epi8(9), ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < iters; i++) {
        /* each chain's own products (its accumulator's bytes as the signed operand): nothing to hoist */
        for (int c = 0; c < NCHAIN; c++) a[c] = _mm256_add_epi32(a[c], _mm256_madd_epi16(_mm256_maddubs_epi16(u, a[c]), ones));
    }
    int32_t v[8];
    for (int c = 0; c < NCHAIN; c++) {
        _mm256_storeu_si256((__m256i *)v, a[c]);
        io[c] = (float)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
    }
}
#endif

/* The portable kernels' arithmetic, one chain per accumulator (each step depends on the last: nothing to hoist). */
static void scalar_loop(int kind, int64_t iters, float *io) {
    if (kind == 1) {
        float a[NCHAIN], x = io[NCHAIN], w = io[NCHAIN + 1];
        for (int c = 0; c < NCHAIN; c++) a[c] = io[c];
        for (int64_t i = 0; i < iters; i++) for (int c = 0; c < NCHAIN; c++) a[c] = (a[c] * w + x) * w + x;
        for (int c = 0; c < NCHAIN; c++) io[c] = a[c];
        return;
    }
    int32_t a[NCHAIN], x = (int32_t)io[NCHAIN], w = (int32_t)io[NCHAIN + 1];
    for (int c = 0; c < NCHAIN; c++) a[c] = (int32_t)io[c];
    for (int64_t i = 0; i < iters; i++) for (int c = 0; c < NCHAIN; c++) a[c] = (int32_t)((uint32_t)a[c] * (uint32_t)w + (uint32_t)x);
    for (int c = 0; c < NCHAIN; c++) io[c] = (float)a[c];
}

/*
 * Runs iters rounds of kind's loop at capmoe_peak_level(kind, level) on the calling thread (io:
 * NCHAIN + 2 floats, the chains' start values and two operands in, the chains' sums out, so the
 * work cannot be optimized away); returns the multiply-adds done (an int8 or bf16 product and its
 * add count as one), or -1 for an unknown kind.
 */
int64_t capmoe_peak_run(int kind, int level, int64_t iters, float *io) {
    int l = capmoe_peak_level(kind, level);
    if (l < 0) return -1;
#if defined(PK_X86)
    if (kind == 1 && l == 2) { bf16_loop(iters, io); return iters * NCHAIN * 32; }
    if (kind == 2 && l == 2) { vnni_loop(iters, io); return iters * NCHAIN * 64; }
    if (kind == 2 && l == 1) { avx2_loop(iters, io); return iters * NCHAIN * 32; }
#endif
    scalar_loop(kind, iters, io);
    return iters * NCHAIN * (kind == 1 ? 2 : 1);
}
