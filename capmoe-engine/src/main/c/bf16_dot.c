/*
 * capmoe's BF16 kernels for --dot reduced: activations rounded to bf16 as llama.cpp's CPU backend
 * does for BF16 weights, then bf16 x bf16 dot products accumulated in fp32 (AVX512_BF16's
 * vdpbf16ps where the CPU has it, a portable C loop otherwise). Called from Java over FFM
 * (capmoe.kernels.Bf16Reduced); every function works on the calling thread only, the Java side
 * splits the columns over its threads.
 *
 * Layout of the weights ("pair panels", made once at load by capmoe_bf16_pack): W [n x k] BF16,
 * k padded to kp = k + (k & 1) with a zero, columns of y = x W^T cut into panels of 16; panel p
 * holds, for each k pair t = 0 .. kp/2-1, 16 little-endian 32-bit words, word i =
 * W[16p+i, 2t] | W[16p+i, 2t+1] << 16: one zmm of vdpbf16ps's operand. Rows past n are zero.
 * Panel p starts at element p * kp * 16.
 *
 * Every output element y[r, j] is ONE fp32 chain over the k pairs in order,
 *     c = 0;  for t = 0 .. kp/2-1:  c = dot2(c, x[r, 2t..2t+1], W[j, 2t..2t+1]);
 * where dot2 is vdpbf16ps's lane operation (Intel SDM, VDPBF16PS: c += x[2t+1]*w[2t+1], then
 * c += x[2t]*w[2t], the bf16 products exact in fp32, subnormal inputs and outputs flushed to zero)
 * in the AVX512_BF16 kernel, and the same two adds in plain C (no flushing) in the portable one.
 * The chain does not depend on the tile height, the number of rows, the column range or the
 * thread, so a row's bits never depend on the batch (capmoe.kernels.MatMul's invariant, within
 * this mode). The two kernels give the same bits unless a subnormal appears.
 *
 * Activation rounding: ggml's GGML_FP32_TO_BF16 (ggml/src/ggml-impl.h lines 611-624 of the
 * llama.cpp snapshot 3f545be: round to nearest even, NaN made quiet with its sign and payload
 * kept), which ggml_cpu_fp32_to_bf16 (ggml/src/ggml-cpu/ggml-cpu.c lines 3531-3536) applies to
 * the activations of a BF16 matmul before ggml_vec_dot_bf16 (ggml/src/ggml-cpu/vec.cpp line 139).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CAPMOE_X86 1
#define CAPMOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

#define NP_COLS 16          /* output columns per panel */
#define MR 6                /* rows per register tile: 6 x 4 zmm accumulators + 4 weight zmm + 1 broadcast */
/* k pairs per K block: K up to 2048 in one block (4 panels x 1024 pairs x 64 B = 256 KB of weights in L2).
 * Measured on one Zen 4 core, CPU time, column tiles of 64 (the grouped experts' calls): 32 rows of
 * k=2048 n=1024 182 GFLOP/s against 155 with blocks of 64 pairs (16 KB, L1) and 171 with 256; 256 rows
 * 190 vs 171; whole 2048-column calls of 512 rows 214 vs 185. */
#define KC 1024
#define MC 240              /* rows per row block */

/* ggml's GGML_FP32_TO_BF16 on one value. */
static inline uint16_t round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t) ((u >> 16) | 64);
    return (uint16_t) ((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

static inline float bf16_float(uint32_t h) {
    uint32_t u = h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* x [rows x k] at row stride xs rounded into out [rows x kp] (kp = k + (k & 1), a zero pad). */
static void round_rows_portable(const float *x, int rows, int k, int xs, uint16_t *out, int kp) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t) r * xs;
        uint16_t *o = out + (int64_t) r * kp;
        for (int c = 0; c < k; c++) o[c] = round_bf16(xr[c]);
        if (kp > k) o[k] = 0;
    }
}

#ifdef CAPMOE_X86
/* The same rounding 16 floats at a time (integer ops only, so the same bits as round_bf16). */
CAPMOE_AVX512 static void round_rows_avx512(const float *x, int rows, int k, int xs, uint16_t *out, int kp) {
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(64);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t) r * xs;
        uint16_t *o = out + (int64_t) r * kp;
        int c = 0;
        for (; c + 16 <= k; c += 16) {
            __m512i u = _mm512_loadu_si512((const void *) (xr + c));
            __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), one))), 16);
            __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
            __m512i h = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), quiet);
            _mm256_storeu_si256((__m256i *) (o + c), _mm512_cvtepi32_epi16(h));
        }
        for (; c < k; c++) o[c] = round_bf16(xr[c]);
        if (kp > k) o[k] = 0;
    }
}
#endif

static int has_avx512bf16(void) {
#ifdef CAPMOE_X86
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
    }
    return known;
#else
    return 0;
#endif
}

/** 1 when capmoe_bf16_gemm runs the AVX512_BF16 kernel on this CPU, 0 when the portable one. */
int capmoe_bf16_isa(void) {
    return has_avx512bf16();
}

/** ggml's fp32 -> bf16 rounding of n floats (the tests' handle on the rounding itself). */
void capmoe_bf16_round(const float *x, int n, uint16_t *out) {
#ifdef CAPMOE_X86
    if (has_avx512bf16()) { round_rows_avx512(x, 1, n, n, out, n); return; }
#endif
    round_rows_portable(x, 1, n, n, out, n);
}

/**
 * Packs rows [16 p0, 16 p1) of the row-major BF16 matrix w [n x k] into pair panels p0 .. p1-1 of
 * out (the layout above; out is the whole panel array, ceil(n/16) * kp * 16 elements).
 */
void capmoe_bf16_pack(const uint16_t *w, int n, int k, int p0, int p1, uint16_t *out) {
    int kp = k + (k & 1);
    for (int p = p0; p < p1; p++) {
        uint16_t *panel = out + (int64_t) p * kp * NP_COLS;
        memset(panel, 0, (size_t) kp * NP_COLS * 2);
        for (int i = 0; i < NP_COLS && p * NP_COLS + i < n; i++) {
            const uint16_t *row = w + (int64_t) (p * NP_COLS + i) * k;
            for (int c = 0; c < k; c++) panel[(c >> 1) * 2 * NP_COLS + 2 * i + (c & 1)] = row[c];
        }
    }
}

/* Per thread: the call's x rounded to bf16, [rows x kp], grown on demand (freed with the thread's
 * process: the Java pool's threads live as long as it). */
static __thread uint16_t *scratch;
static __thread size_t scratch_len;

static uint16_t *take_scratch(size_t n) {
    if (scratch_len < n) {
        free(scratch);
        scratch = aligned_alloc(64, ((n * 2 + 63) / 64) * 64);
        scratch_len = scratch == NULL ? 0 : n;
    }
    return scratch;
}

/* The portable chain of one output element: x pairs xb[2t..2t+1], weight words w[t * 16]. */
static void gemm_portable(const uint16_t *xb, int rows, int kp, const uint16_t *panels, int j0, int j1,
                          float *y, int ys) {
    int pairs = kp / 2;
    const uint32_t *words = (const uint32_t *) panels;
    for (int r = 0; r < rows; r++) {
        const uint16_t *xr = xb + (int64_t) r * kp;
        for (int j = j0; j < j1; j++) {
            const uint32_t *w = words + (int64_t) (j / NP_COLS) * pairs * NP_COLS + j % NP_COLS;
            float c = 0;
            for (int t = 0; t < pairs; t++) {
                uint32_t wt = w[(int64_t) t * NP_COLS];
                float hi = bf16_float(xr[2 * t + 1]) * bf16_float(wt >> 16);   /* exact: 8-bit x 8-bit significands */
                float lo = bf16_float(xr[2 * t]) * bf16_float(wt & 0xffff);
                c = c + hi;
                c = c + lo;
            }
            y[(int64_t) r * ys + j - j0] = c;
        }
    }
}

#ifdef CAPMOE_X86
/*
 * One register tile: m (<= MR) rows of xb (row stride kp) times np (<= NPMAX) consecutive panels,
 * k pairs [t0, t1); acc starts from y (add) or zero; the last panel keeps `width` columns.
 * Every lane runs the same vdpbf16ps chain whatever m, np, t0 (see the file comment).
 */
#define TILE(M, NPN) \
CAPMOE_AVX512 static void tile_##M##x##NPN(const uint16_t *xb, int kp, const uint16_t *w, int64_t pstride, \
        int t0, int t1, float *y, int ys, int width, int add) { \
    __m512 acc[M][NPN]; \
    __mmask16 last = width >= NP_COLS ? (__mmask16) 0xffff : (__mmask16) ((1u << width) - 1); \
    _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) { \
        _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) { \
            __mmask16 mk = q == NPN - 1 ? last : (__mmask16) 0xffff; \
            acc[r][q] = add ? _mm512_maskz_loadu_ps(mk, y + (int64_t) r * ys + q * NP_COLS) : _mm512_setzero_ps(); \
        } \
    } \
    const uint16_t *wt = w + (int64_t) t0 * 2 * NP_COLS; \
    for (int t = t0; t < t1; t++, wt += 2 * NP_COLS) { \
        __m512i wv[NPN]; \
        _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) wv[q] = _mm512_loadu_si512((const void *) (wt + q * pstride)); \
        _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) { \
            int32_t pair; \
            memcpy(&pair, xb + (int64_t) r * kp + 2 * t, 4); \
            __m512bh b = (__m512bh) _mm512_set1_epi32(pair); \
            _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], b, (__m512bh) wv[q]); \
        } \
    } \
    _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) { \
        _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) { \
            __mmask16 mk = q == NPN - 1 ? last : (__mmask16) 0xffff; \
            _mm512_mask_storeu_ps(y + (int64_t) r * ys + q * NP_COLS, mk, acc[r][q]); \
        } \
    } \
}
TILE(6, 4) TILE(5, 4) TILE(4, 4) TILE(3, 4) TILE(2, 4) TILE(1, 4)
TILE(6, 1) TILE(5, 1) TILE(4, 1) TILE(3, 1) TILE(2, 1) TILE(1, 1)
#undef TILE

typedef void (*tile_fn)(const uint16_t *, int, const uint16_t *, int64_t, int, int, float *, int, int, int);
static const tile_fn TILES4[MR + 1] = {0, tile_1x4, tile_2x4, tile_3x4, tile_4x4, tile_5x4, tile_6x4};
static const tile_fn TILES1[MR + 1] = {0, tile_1x1, tile_2x1, tile_3x1, tile_4x1, tile_5x1, tile_6x1};

/*
 * Columns [j0, j1) (j0 a multiple of 16) of y = xb W^T for all rows of xb. Decode (1-2 rows):
 * four panels at a time over all of k, 4-8 independent chains, each weight read once (four streams
 * of weights rather than eight: one Zen 4 core, 64 matrices 1024 x 2048 from memory on 2 MB pages,
 * CPU time, scripts/GemmBench.java "64 1 2048 1024 BF16_REDUCED": 31-33 against 24-26 GFLOP/s with
 * eight panels and 4 KB pages, capmoe.kernels.WeightMemory). Else per
 * block of MC rows, per group of four panels (then single panels), per K block of KC pairs (the
 * group's weights stay in L2 while the block's row tiles pass), tiles of MR rows; a K block after
 * the first continues each chain from the fp32 value stored in y (no bit changes).
 */
CAPMOE_AVX512 static void gemm_avx512(const uint16_t *xb, int rows, int kp, const uint16_t *panels, int j0, int j1,
                                      float *y, int ys) {
    int pairs = kp / 2, p = j0 / NP_COLS, pend = (j1 + NP_COLS - 1) / NP_COLS;
    int64_t pstride = (int64_t) kp * NP_COLS;
    if (rows <= 2) {
        int q = p;
        for (; q + 4 <= pend && (q + 4) * NP_COLS <= j1; q += 4) {
            TILES4[rows](xb, kp, panels + q * pstride, pstride, 0, pairs, y + (q - p) * NP_COLS, ys, NP_COLS, 0);
        }
        for (; q < pend; q++) {
            int width = j1 - q * NP_COLS;
            TILES1[rows](xb, kp, panels + q * pstride, pstride, 0, pairs, y + (q - p) * NP_COLS, ys, width, 0);
        }
        return;
    }
    for (int r0 = 0; r0 < rows; r0 += MC) {
        int m = rows - r0 < MC ? rows - r0 : MC;
        for (int q = p; q < pend;) {
            int four = q + 4 <= pend && (q + 4) * NP_COLS <= j1, np = four ? 4 : 1;
            int width = four ? NP_COLS : j1 - q * NP_COLS;
            const tile_fn *fs = four ? TILES4 : TILES1;
            for (int t0 = 0; t0 < pairs; t0 += KC) {
                int t1 = pairs - t0 < KC ? pairs : t0 + KC;
                for (int r = 0; r < m;) {
                    int h = m - r >= MR ? MR : m - r;
                    fs[h](xb + (int64_t) (r0 + r) * kp, kp, panels + q * pstride, pstride, t0, t1,
                          y + (int64_t) (r0 + r) * ys + (q - p) * NP_COLS, ys, width, t0 > 0);
                    r += h;
                }
            }
            q += np;
        }
    }
}
#endif

/* Shared by the two entry points: rounds x's rows once, then the kernel. */
static void gemm(int avx512, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                 int j0, int j1, float *y, int64_t y0, int ys) {
    if (rows <= 0 || j1 <= j0) return;
    int kp = k + (k & 1);
    uint16_t *xb = take_scratch((size_t) rows * kp);
    if (xb == NULL) abort();
#ifdef CAPMOE_X86
    if (avx512) {
        round_rows_avx512(x + x0, rows, k, xs, xb, kp);
        gemm_avx512(xb, rows, kp, panels, j0, j1, y + y0, ys);
        return;
    }
#endif
    (void) avx512;
    round_rows_portable(x + x0, rows, k, xs, xb, kp);
    gemm_portable(xb, rows, kp, panels, j0, j1, y + y0, ys);
}

/**
 * y[y0 + r*ys + j - j0] = bf16(x[x0 + r*xs ..]) . W[j] for rows r < rows and columns j in [j0, j1)
 * (j0 a multiple of 16), W given as pair panels of k columns (capmoe_bf16_pack): x's rows are
 * rounded to bf16 once (ggml's rounding), then the AVX512_BF16 kernel when the CPU has it, else the
 * portable one. On the calling thread only.
 */
void capmoe_bf16_gemm(const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                      int j0, int j1, float *y, int64_t y0, int ys) {
    gemm(has_avx512bf16(), x, x0, xs, rows, k, panels, j0, j1, y, y0, ys);
}

/** capmoe_bf16_gemm on the portable kernel whatever the CPU (the tests compare the two). */
void capmoe_bf16_gemm_portable(const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                               int j0, int j1, float *y, int64_t y0, int ys) {
    gemm(0, x, x0, xs, rows, k, panels, j0, j1, y, y0, ys);
}
