/*
 * capmoe's BF16 kernels for --dot reduced: llama.cpp's CPU arithmetic for a BF16 matmul, bit for bit.
 * Activations are rounded to bf16 as llama.cpp rounds them, then bf16 x bf16 products are summed in
 * the order of whichever of llama.cpp's two BF16 kernels the Java side names (AVX512_BF16's vdpbf16ps
 * where the CPU has it, a portable C model of the same order otherwise). Called from Java over FFM
 * (capmoe.kernels.ReducedMatMul); every function works on the calling thread only, the Java side
 * splits the columns over its threads.
 *
 * The two orders (llama.cpp snapshot 3f545be, built with GCC 12 for an AVX512_BF16 CPU). Write
 * dp(c, w, x) for vdpbf16ps on one lane: c += x[2i+1]*w[2i+1], then c += x[2i]*w[2i] (Intel SDM,
 * VDPBF16PS; the bf16 products exact in fp32; subnormal inputs and outputs flushed to zero), and
 * R16(a) for GCC 12's _mm512_reduce_add_ps of 16 lanes (avx512fintrin.h, __MM512_REDUCE_OP):
 * t[i] = a[i+8] + a[i] (i < 8), u[i] = t[i+4] + t[i] (i < 4), (u[0] + u[2]) + (u[1] + u[3]).
 *   TINYBLAS (tinyBLAS<32, __m512, __m512bh, ggml_bf16_t, ...>::gemm_bloc, ggml/src/ggml-cpu/llamafile/
 *     sgemm.cpp lines 537-568, hsum line 275): ONE zmm per output over blocks of 32 k: lane i of
 *     block b takes k = 32b+2i, 32b+2i+1; y = R16(lanes). llama.cpp runs it for ggml_mul_mat
 *     (ggml-cpu.c lines 1282-1337, llamafile_sgemm in sgemm.cpp lines 3893-3900 and 488-523) when
 *     the batch has >= 2 rows, K % 32 == 0 and N % 4 == 0: the dense projections and the LM head.
 *   VEC_DOT (ggml_vec_dot_bf16, ggml/src/ggml-cpu/vec.cpp lines 139-163 and 256-261): two zmm over
 *     blocks of 64 k, c1 on k = 64b .. 64b+31, c2 on 64b+32 .. 64b+63 (b < K/64); then in double
 *     s = 0; s += R16(c1); s += R16(c2); for each k past the last whole block, in order,
 *     s += (double) (x[k] * w[k]) (a float product); y = (float) s. llama.cpp runs it for every
 *     other BF16 matmul: ggml_mul_mat_id (the experts, any batch) and one-row ggml_mul_mat (decode).
 * Either way a row's bits depend only on that row of x, W and the order, never on the tile, the
 * thread, the column range or the other rows (capmoe.kernels.MatMul's invariant, per order).
 *
 * Layout of the weights (made once at load by capmoe_bf16_pack): W [n x k] BF16, its rows (the
 * columns of y) cut into panels of 16 (rows past n zero), k padded with zeros to kp = k rounded up
 * to 64, i.e. P = kp/2 pairs in NB = kp/64 blocks. A panel holds, for each pair t, 16 little-endian
 * 32-bit words, word i = W[16p+i, 2t] | W[16p+i, 2t+1] << 16 (one zmm operand of vdpbf16ps, which
 * multiplies it by a broadcast pair of x, one output column per lane), at position
 *     pos(t) = run(t % 32) * NB + t / 32,   run(u) = (u & 16) + LANE^-1(u & 15),
 * so that each of the 32 lanes of the two orders' vectors reads a contiguous run, and the runs lie
 * in the order the kernel takes the lanes (LANE below): VEC_DOT's lane u (c1's lane u for u < 16,
 * c2's lane u - 16 after) is the run run(u); tinyBLAS's lane s alternates between the runs run(s)
 * and run(s + 16). Panel p starts at element p * 16 * kp. x's rows are rounded into a
 * per-thread scratch in k order (a pair is broadcast from wherever it lies), or prepared so once
 * by the caller (capmoe_bf16_prepare: the grouped experts, once per gathered or hidden row, then
 * capmoe_bf16_gemm_prepared for every column tile).
 *
 * The kernel (AVX512_BF16): a register tile of up to 6 rows x 4 panels (24 accumulators, output
 * columns in lanes) runs one lane's chain at a time for every output of the tile at once: the chain
 * of tinyBLAS's lane s, or VEC_DOT's lane u, all the outputs' lane-s sums side by side; the 16 chain
 * results of a sum are added in R16's tree as they come (lanes in bit-reversed order 0, 8, 4, 12,
 * ...: a binary counter of pending partial sums, at most 4), so no lane is ever summed in another
 * order. VEC_DOT then adds in double, and the tail k past the last whole block one by one.
 *
 * Activation rounding: ggml's GGML_FP32_TO_BF16 (ggml/src/ggml-impl.h lines 611-624: round to
 * nearest even, NaN made quiet with its sign and payload kept), which ggml_cpu_fp32_to_bf16
 * (ggml/src/ggml-cpu/ggml-cpu.c lines 3531-3536) applies to a BF16 matmul's activations
 * (vec_dot_type BF16, ggml-cpu.c lines 394-398) before either kernel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CAPMOE_X86 1
#define CAPMOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#endif


#define NP_COLS 16          /* output columns per panel */
#define MR 6                /* rows per register tile: 6 x 4 zmm accumulators + 4 weight zmm + 1 broadcast */
#define MC 240              /* rows per row block: a panel group's weights stay in L2 while the block's row tiles pass */
#define SHORT 4             /* chains of at most this many steps (K up to 256, tinyBLAS 128) take the small unrolled tiles */
#define ORDER_VEC_DOT 0
#define ORDER_TINYBLAS 1

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

static inline int padded_k(int k) { return (k + 63) & ~63; }                 /* kp */
static const int LANE[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};   /* R16's leaves in order: bit-reversed */
/* Position of pair t in a panel: its lane's run (runs in the order the kernel reads them), then its block. */
static inline int64_t pos_of(int t, int nb) { return (int64_t) ((t & 16) | LANE[t & 15]) * nb + (t >> 5); }

/** Elements (uint16) of one panel for inner dimension k: 16 columns x kp. */
int64_t capmoe_bf16_panel_elements(int k) {
    return (int64_t) NP_COLS * padded_k(k);
}

/* x [1 x k] rounded into bf16 out[0 .. k) (k values, no padding). */
static void round_row_portable(const float *x, int k, uint16_t *out) {
    for (int c = 0; c < k; c++) out[c] = round_bf16(x[c]);
}

#ifdef CAPMOE_X86
/* The same rounding 16 floats at a time (integer ops only, so the same bits as round_bf16). */
CAPMOE_AVX512 static void round_row_avx512(const float *x, int k, uint16_t *out) {
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(64);
    int c = 0;
    for (; c + 16 <= k; c += 16) {
        __m512i u = _mm512_loadu_si512((const void *) (x + c));
        __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), one))), 16);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
        __m512i h = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), quiet);
        _mm256_storeu_si256((__m256i *) (out + c), _mm512_cvtepi32_epi16(h));
    }
    for (; c < k; c++) out[c] = round_bf16(x[c]);
}
#endif

static int has_avx512bf16(void) {
#ifdef CAPMOE_X86
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
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
    if (has_avx512bf16()) { round_row_avx512(x, n, out); return; }
#endif
    round_row_portable(x, n, out);
}

/**
 * Packs rows [16 p0, 16 p1) of the row-major BF16 matrix w [n x k] into panels p0 .. p1-1 of out
 * (the layout above; out is the whole panel array, ceil(n/16) * capmoe_bf16_panel_elements(k) elements).
 */
void capmoe_bf16_pack(const uint16_t *w, int n, int k, int p0, int p1, uint16_t *out) {
    int kp = padded_k(k), nb = kp / 64;
    for (int p = p0; p < p1; p++) {
        uint16_t *panel = out + (int64_t) p * NP_COLS * kp;
        memset(panel, 0, (size_t) kp * NP_COLS * 2);
        for (int i = 0; i < NP_COLS && p * NP_COLS + i < n; i++) {
            const uint16_t *row = w + (int64_t) (p * NP_COLS + i) * k;
            for (int c = 0; c < k; c++) panel[pos_of(c >> 1, nb) * 2 * NP_COLS + 2 * i + (c & 1)] = row[c];
        }
    }
}

/* Per thread: the call's x rounded to bf16, [rows x kp] (pairs in k order, zero-padded), grown on
 * demand (freed with the thread's process: the Java pool's threads live as long as it). */
static __thread uint32_t *scratch;
static __thread size_t scratch_len;

static uint32_t *take_scratch(size_t words) {
    if (scratch_len < words) {
        free(scratch);
        scratch = aligned_alloc(64, ((words * 4 + 63) / 64) * 64);
        scratch_len = scratch == NULL ? 0 : words;
    }
    return scratch;
}

/* ---- the portable kernel: the two orders written out one output at a time ---- */

/* vdpbf16ps on one lane: the odd product, then the even one (no flushing of subnormals; where the two
 * products overflow fp32 the instruction, with more range, may give inf where these two additions give NaN). */
static inline float dp(float c, uint32_t w, uint32_t x) {
    c = c + bf16_float(x >> 16) * bf16_float(w >> 16);
    c = c + bf16_float(x & 0xffff) * bf16_float(w & 0xffff);
    return c;
}

/* GCC 12's _mm512_reduce_add_ps. */
static inline float r16(const float *a) {
    float t[8], u[4];
    for (int i = 0; i < 8; i++) t[i] = a[i + 8] + a[i];
    for (int i = 0; i < 4; i++) u[i] = t[i + 4] + t[i];
    return (u[0] + u[2]) + (u[1] + u[3]);
}

/* One output: xr the row's pairs at their positions, w the panel's words of its column (stride 16). */
static float tinyblas_portable(const uint32_t *xr, const uint32_t *w, int k, int nb) {
    float lane[16] = {0};
    for (int b = 0; b < k / 32; b++) {
        for (int i = 0; i < 16; i++) {
            int t = 16 * b + i;
            lane[i] = dp(lane[i], w[pos_of(t, nb) * NP_COLS], xr[t]);
        }
    }
    return r16(lane);
}

static float vec_dot_portable(const uint32_t *xr, const uint32_t *w, int k, int nb) {
    float c1[16] = {0}, c2[16] = {0};
    int full = k / 64;
    for (int b = 0; b < full; b++) {
        for (int i = 0; i < 16; i++) {
            int t1 = 32 * b + i, t2 = 32 * b + 16 + i;
            c1[i] = dp(c1[i], w[pos_of(t1, nb) * NP_COLS], xr[t1]);
            c2[i] = dp(c2[i], w[pos_of(t2, nb) * NP_COLS], xr[t2]);
        }
    }
    double s = 0;
    s += (double) r16(c1);
    s += (double) r16(c2);
    for (int c = 64 * full; c < k; c++) {
        int64_t q = pos_of(c >> 1, nb);
        int shift = 16 * (c & 1);
        s += (double) (bf16_float((xr[c >> 1] >> shift) & 0xffff) * bf16_float((w[q * NP_COLS] >> shift) & 0xffff));
    }
    return (float) s;
}

static void gemm_portable(int order, const uint32_t *xw, int64_t xs, int rows, int k, const uint16_t *panels, int j0, int j1, float *y, int ys) {
    int kp = padded_k(k), nb = kp / 64;
    const uint32_t *words = (const uint32_t *) panels;
    for (int r = 0; r < rows; r++) {
        const uint32_t *xr = xw + (int64_t) r * xs;
        for (int j = j0; j < j1; j++) {
            const uint32_t *w = words + (int64_t) (j / NP_COLS) * NP_COLS * (kp / 2) + j % NP_COLS;
            y[(int64_t) r * ys + j - j0] = order == ORDER_TINYBLAS ? tinyblas_portable(xr, w, k, nb) : vec_dot_portable(xr, w, k, nb);
        }
    }
}

#ifdef CAPMOE_X86
/* Lanes 8-15 of v. */
CAPMOE_AVX512 static inline __m256 high8(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/*
 * One register tile: M (<= MR) rows of xw (row stride xs words) times NPN (<= 4) consecutive panels
 * at w (panel stride pstride words); the last panel keeps `width` columns. Every output gets
 * exactly the sum of the order (the file comment): for each of the 16 lanes of a sum, in R16's leaf
 * order, the lane's chain for all M x NPN x 16 outputs in registers, then added into the pending
 * partial sums (level L holds the sum of 2^L leaves), so the tree's additions are R16's.
 */
#define TILE(M, NPN, ORD, order) TILE_U(M, NPN, ORD, order, GCC unroll 1, )
#define TILE_U(M, NPN, ORD, order, UNROLL, SUFFIX) \
CAPMOE_AVX512 static void tile_##ORD##_##M##x##NPN##SUFFIX(const uint32_t *xw, int64_t xs, const uint32_t *w, int64_t pstride, \
        int k, int nb, float *y, int ys, int width, double *sd, int sds) { \
    __m512 acc[M][NPN], slot[4][M][NPN], c1[M][NPN]; \
    _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) \
        _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) c1[r][q] = _mm512_setzero_ps(); \
    __mmask16 last = width >= NP_COLS ? (__mmask16) 0xffff : (__mmask16) ((1u << width) - 1); \
    int trees = order == ORDER_TINYBLAS ? 1 : 2; \
    for (int tree = 0; tree < trees; tree++) { \
        _Pragma(#UNROLL) for (int i = 0; i < 16; i++) { \
            int s = LANE[i]; \
            _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) \
                _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) acc[r][q] = _mm512_setzero_ps(); \
            /* the runs this lane reads, in its order: tinyBLAS s then s+16 alternately, VEC_DOT one run */ \
            int steps = order == ORDER_TINYBLAS ? k / 32 : k / 64; \
            int64_t runA = (int64_t) (order == ORDER_TINYBLAS ? i : i + 16 * tree) * nb, runB = (int64_t) (i + 16) * nb; \
            for (int b = 0; b < steps; b++) { \
                int64_t pos = order == ORDER_TINYBLAS ? ((b & 1) ? runB : runA) + (b >> 1) : runA + b; \
                int64_t t = order == ORDER_TINYBLAS ? 16 * b + s : 32 * b + s + 16 * tree;   /* x's pair */ \
                __m512i wv[NPN]; \
                _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) wv[q] = _mm512_loadu_si512((const void *) (w + q * pstride + pos * NP_COLS)); \
                _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) { \
                    __m512bh xb = (__m512bh) _mm512_set1_epi32((int) xw[r * xs + t]); \
                    _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], xb, (__m512bh) wv[q]); \
                } \
            } \
            int level = 0; \
            for (; (i >> level) & 1; level++) { \
                _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) \
                    _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) acc[r][q] = _mm512_add_ps(slot[level][r][q], acc[r][q]); \
            } \
            if (level < 4) { \
                _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) \
                    _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) slot[level][r][q] = acc[r][q]; \
            } \
        } \
        if (trees == 2 && tree == 0) { \
            _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) \
                _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) c1[r][q] = acc[r][q]; \
        } \
    } \
    if (order == ORDER_TINYBLAS) { \
        _Pragma("GCC unroll 8") for (int r = 0; r < M; r++) \
            _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) \
                _mm512_mask_storeu_ps(y + (int64_t) r * ys + q * NP_COLS, q == NPN - 1 ? last : (__mmask16) 0xffff, acc[r][q]); \
        return; \
    } \
    /* VEC_DOT: s = 0; s += R16(c1); s += R16(c2); then the tail (k past the last whole block, vec_dot_tail) */ \
    /* or, without one, y = (float) s */ \
    int tail = k & 63; \
    for (int r = 0; r < M; r++) { \
        _Pragma("GCC unroll 8") for (int q = 0; q < NPN; q++) { \
            __m512d lo = _mm512_add_pd(_mm512_add_pd(_mm512_setzero_pd(), _mm512_cvtps_pd(_mm512_castps512_ps256(c1[r][q]))), \
                                       _mm512_cvtps_pd(_mm512_castps512_ps256(acc[r][q]))); \
            __m512d hi = _mm512_add_pd(_mm512_add_pd(_mm512_setzero_pd(), _mm512_cvtps_pd(high8(c1[r][q]))), _mm512_cvtps_pd(high8(acc[r][q]))); \
            if (tail) { \
                _mm512_storeu_pd(sd + (int64_t) r * sds + q * NP_COLS, lo); \
                _mm512_storeu_pd(sd + (int64_t) r * sds + q * NP_COLS + 8, hi); \
            } else { \
                __m512 f = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1); \
                _mm512_mask_storeu_ps(y + (int64_t) r * ys + q * NP_COLS, q == NPN - 1 ? last : (__mmask16) 0xffff, f); \
            } \
        } \
    } \
}

#define TILES(ORD, order) \
    TILE(6, 4, ORD, order) TILE(5, 4, ORD, order) TILE(4, 4, ORD, order) TILE(3, 4, ORD, order) TILE(2, 4, ORD, order) TILE(1, 4, ORD, order) \
    TILE(6, 1, ORD, order) TILE(5, 1, ORD, order) TILE(4, 1, ORD, order) TILE(3, 1, ORD, order) TILE(2, 1, ORD, order) TILE(1, 1, ORD, order)
TILES(vd, ORDER_VEC_DOT)
TILES(tb, ORDER_TINYBLAS)
/* Short chains (small K): 2 x 2 tiles whose 16 leaves are unrolled, so that the pending partial sums stay in registers */
TILE_U(2, 2, vd, ORDER_VEC_DOT, GCC unroll 16, _u) TILE_U(1, 2, vd, ORDER_VEC_DOT, GCC unroll 16, _u)
TILE_U(2, 1, vd, ORDER_VEC_DOT, GCC unroll 16, _u) TILE_U(1, 1, vd, ORDER_VEC_DOT, GCC unroll 16, _u)
TILE_U(2, 2, tb, ORDER_TINYBLAS, GCC unroll 16, _u) TILE_U(1, 2, tb, ORDER_TINYBLAS, GCC unroll 16, _u)
TILE_U(2, 1, tb, ORDER_TINYBLAS, GCC unroll 16, _u) TILE_U(1, 1, tb, ORDER_TINYBLAS, GCC unroll 16, _u)
/* and one row (decode) across four panels: twice the independent chains of 1 x 2 */
TILE_U(1, 4, vd, ORDER_VEC_DOT, GCC unroll 16, _u) TILE_U(1, 4, tb, ORDER_TINYBLAS, GCC unroll 16, _u)
#undef TILES
#undef TILE
#undef TILE_U

typedef void (*tile_fn)(const uint32_t *, int64_t, const uint32_t *, int64_t, int, int, float *, int, int, double *, int);
/* [order][two panels][rows] */
static const tile_fn ROW_FNS[2] = {tile_vd_1x4_u, tile_tb_1x4_u};   /* [order]: one row, four panels, short chains */
static const tile_fn SMALL_FNS[2][2][3] = {
    {{0, tile_vd_1x1_u, tile_vd_2x1_u}, {0, tile_vd_1x2_u, tile_vd_2x2_u}},
    {{0, tile_tb_1x1_u, tile_tb_2x1_u}, {0, tile_tb_1x2_u, tile_tb_2x2_u}}};
/* [order][panels == 4][rows] */
static const tile_fn TILE_FNS[2][2][MR + 1] = {
    {{0, tile_vd_1x1, tile_vd_2x1, tile_vd_3x1, tile_vd_4x1, tile_vd_5x1, tile_vd_6x1},
     {0, tile_vd_1x4, tile_vd_2x4, tile_vd_3x4, tile_vd_4x4, tile_vd_5x4, tile_vd_6x4}},
    {{0, tile_tb_1x1, tile_tb_2x1, tile_tb_3x1, tile_tb_4x1, tile_tb_5x1, tile_tb_6x1},
     {0, tile_tb_1x4, tile_tb_2x4, tile_tb_3x4, tile_tb_4x4, tile_tb_5x4, tile_tb_6x4}}};

/*
 * VEC_DOT's tail for np (<= 4) consecutive panels and `rows` rows: s (sd, the tiles' double sums,
 * row stride sds) plus, k by k past the last whole block, (double) (x * w); y = (float) s, the last
 * panel's `width` columns. The tail's weights are widened once, with the least nonzero and the
 * largest |w|. Where every nonzero product x * w is a normal float (|x w| in [2^-126, 2^127): the
 * bounds' products, per row; NaN fails the check) it is exact in float (16 significant bits), and
 * s + (double) (x * w) = fma(x, w, s), rounded once: the fast path; else the float products themselves.
 * xt: the rows' tail values as doubles [rows x tail], xb: their least nonzero and largest |x| [rows x 2].
 */
CAPMOE_AVX512 static void vec_dot_tail(const uint32_t *w, int64_t pstride, int np, int k, int nb, int rows, const double *xt,
                                       const float *xb, const double *sd, int sds, float *y, int ys, int width) {
    int full = k / 64, tail = k & 63;
    __m512 wt[64][4];
    __m512d wd[64][4][2];
    __m512 wmax = _mm512_setzero_ps(), wmin = _mm512_set1_ps(__builtin_inff());
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff);
    for (int e = 0; e < tail; e++) {
        int64_t pos = pos_of(32 * full + e / 2, nb);
        for (int q = 0; q < np; q++) {
            __m512i wv = _mm512_loadu_si512((const void *) (w + q * pstride + pos * NP_COLS));
            __m512 f = _mm512_castsi512_ps((e & 1) ? _mm512_and_si512(wv, _mm512_set1_epi32((int) 0xffff0000u)) : _mm512_slli_epi32(wv, 16));
            __m512 a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(f), absmask));
            wt[e][q] = f;
            wd[e][q][0] = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
            wd[e][q][1] = _mm512_cvtps_pd(high8(f));
            wmax = _mm512_max_ps(wmax, a);
            wmin = _mm512_mask_min_ps(wmin, _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_NEQ_OQ), wmin, a);
        }
    }
    double wlo = _mm512_reduce_min_ps(wmin), whi = _mm512_reduce_max_ps(wmax);
    __mmask16 last = width >= NP_COLS ? (__mmask16) 0xffff : (__mmask16) ((1u << width) - 1);
    int r = 0;
    /* fast path, four rows at a time: eight independent fma chains per panel */
    for (; r + 4 <= rows; r += 4) {
        int fast = 1;
        for (int i = 0; i < 4; i++) fast &= xb[2 * (r + i) + 1] * whi < 0x1p127 && xb[2 * (r + i)] * wlo >= 0x1p-126;
        if (!fast) break;
        for (int q = 0; q < np; q++) {
            __m512d d[4][2];
            for (int i = 0; i < 4; i++) {
                d[i][0] = _mm512_loadu_pd(sd + (int64_t) (r + i) * sds + q * NP_COLS);
                d[i][1] = _mm512_loadu_pd(sd + (int64_t) (r + i) * sds + q * NP_COLS + 8);
            }
            for (int e = 0; e < tail; e++) {
                _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
                    __m512d xv = _mm512_set1_pd(xt[(int64_t) (r + i) * tail + e]);
                    d[i][0] = _mm512_fmadd_pd(xv, wd[e][q][0], d[i][0]);
                    d[i][1] = _mm512_fmadd_pd(xv, wd[e][q][1], d[i][1]);
                }
            }
            for (int i = 0; i < 4; i++) {
                __m512 f = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(d[i][0])), _mm512_cvtpd_ps(d[i][1]), 1);
                _mm512_mask_storeu_ps(y + (int64_t) (r + i) * ys + q * NP_COLS, q == np - 1 ? last : (__mmask16) 0xffff, f);
            }
        }
    }
    /* the other rows one at a time, all np panels together (2 np chains) */
    for (; r < rows; r++) {
        __m512d d[4][2];
        for (int q = 0; q < np; q++) {
            d[q][0] = _mm512_loadu_pd(sd + (int64_t) r * sds + q * NP_COLS);
            d[q][1] = _mm512_loadu_pd(sd + (int64_t) r * sds + q * NP_COLS + 8);
        }
        const double *xr = xt + (int64_t) r * tail;
        if (xb[2 * r + 1] * whi < 0x1p127 && xb[2 * r] * wlo >= 0x1p-126) {
            for (int e = 0; e < tail; e++) {
                __m512d xv = _mm512_set1_pd(xr[e]);
                for (int q = 0; q < np; q++) {
                    d[q][0] = _mm512_fmadd_pd(xv, wd[e][q][0], d[q][0]);
                    d[q][1] = _mm512_fmadd_pd(xv, wd[e][q][1], d[q][1]);
                }
            }
        } else {
            for (int e = 0; e < tail; e++) {
                __m512 xv = _mm512_set1_ps((float) xr[e]);
                for (int q = 0; q < np; q++) {
                    __m512 p = _mm512_mul_ps(xv, wt[e][q]);
                    d[q][0] = _mm512_add_pd(d[q][0], _mm512_cvtps_pd(_mm512_castps512_ps256(p)));
                    d[q][1] = _mm512_add_pd(d[q][1], _mm512_cvtps_pd(high8(p)));
                }
            }
        }
        for (int q = 0; q < np; q++) {
            __m512 f = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(d[q][0])), _mm512_cvtpd_ps(d[q][1]), 1);
            _mm512_mask_storeu_ps(y + (int64_t) r * ys + q * NP_COLS, q == np - 1 ? last : (__mmask16) 0xffff, f);
        }
    }
}

/* Per thread: VEC_DOT's tail scratch: the tiles' double sums [MC x 64], the rows' tail values as doubles and their bounds. */
static __thread double *tail_scratch;
static __thread size_t tail_len;

/*
 * Columns [j0, j1) (j0 a multiple of 16) of y for all rows of xw (row r's kp/2 pairs at xw + r*xs): per block of MC rows, per group of
 * panels, tiles (6 rows x 4 panels, then single panels; with short chains 2 x 2), the group's
 * weights staying in L2 while the block's row tiles pass; then VEC_DOT's tail per panel.
 */
CAPMOE_AVX512 static void gemm_avx512(int order, const uint32_t *xw, int64_t xs, int rows, int k, const uint16_t *panels, int j0, int j1,
                                      float *y, int ys) {
    int kp = padded_k(k), nb = kp / 64, p = j0 / NP_COLS, pend = (j1 + NP_COLS - 1) / NP_COLS;
    int tail = order == ORDER_VEC_DOT ? k & 63 : 0, small = (order == ORDER_TINYBLAS ? k / 32 : k / 64) <= SHORT;
    int64_t pstride = (int64_t) NP_COLS * (kp / 2);
    const uint32_t *words = (const uint32_t *) panels;
    double *sd = NULL, *xt = NULL;
    float *xb = NULL;
    const int sds = 4 * NP_COLS;
    if (tail) {
        size_t need = (size_t) MC * sds + (size_t) rows * tail + (size_t) rows;   /* the bounds: two floats per row */
        if (tail_len < need) {
            free(tail_scratch);
            tail_scratch = aligned_alloc(64, ((need * 8 + 63) / 64) * 64);
            tail_len = tail_scratch == NULL ? 0 : need;
            if (tail_scratch == NULL) abort();
        }
        sd = tail_scratch;
        xt = sd + (size_t) MC * sds;
        xb = (float *) (xt + (size_t) rows * tail);
        for (int r = 0; r < rows; r++) {
            const uint16_t *h = (const uint16_t *) (xw + (int64_t) r * xs) + (k - tail);
            float lo = __builtin_inff(), hi = 0;
            for (int e = 0; e < tail; e++) {
                float v = bf16_float(h[e]), a = __builtin_fabsf(v);
                xt[(int64_t) r * tail + e] = v;
                hi = a > hi || a != a ? a : hi;
                if (a != 0 && a < lo) lo = a;
            }
            xb[2 * r] = lo;
            xb[2 * r + 1] = hi;
        }
    }
    for (int r0 = 0; r0 < rows; r0 += MC) {
        int m = rows - r0 < MC ? rows - r0 : MC;
        for (int q = p; q < pend;) {
            int full = q + 4 <= pend && (q + 4) * NP_COLS <= j1, np = full ? 4 : 1;
            int width = full ? NP_COLS : j1 - q * NP_COLS;
            if (small && np == 4 && m == 1) {                         /* a lone row: one tile over the four panels */
                ROW_FNS[order](xw + (int64_t) r0 * xs, xs, words + q * pstride, pstride, k, nb,
                               y + (int64_t) r0 * ys + (q - p) * NP_COLS, ys, width, sd, sds);
            } else for (int sub = 0; sub < np; sub += small ? 2 : 4) {     /* small tiles: two panels each */
                const tile_fn *fs = small ? SMALL_FNS[order][np > 1] : TILE_FNS[order][full];
                int tile = small ? 2 : MR;
                for (int r = 0; r < m;) {
                    int h = m - r >= tile ? tile : m - r;
                    fs[h](xw + (int64_t) (r0 + r) * xs, xs, words + (q + sub) * pstride, pstride, k, nb,
                          y + (int64_t) (r0 + r) * ys + (q + sub - p) * NP_COLS, ys, width, sd + (int64_t) r * sds + sub * NP_COLS, sds);
                    r += h;
                }
            }
            if (tail) {
                vec_dot_tail(words + q * pstride, pstride, np, k, nb, m, xt + (int64_t) r0 * tail, xb + 2 * r0, sd, sds,
                             y + (int64_t) r0 * ys + (q - p) * NP_COLS, ys, width);
            }
            q += np;
        }
    }
}
#endif

/* The kernel on rows of pairs xw (row stride xs words), whichever the caller names. */
static void kernel(int avx512, int order, const uint32_t *xw, int64_t xs, int rows, int k, const uint16_t *panels,
                   int j0, int j1, float *y, int ys) {
#ifdef CAPMOE_X86
    if (avx512) {
        gemm_avx512(order, xw, xs, rows, k, panels, j0, j1, y, ys);
        return;
    }
#endif
    (void) avx512;
    gemm_portable(order, xw, xs, rows, k, panels, j0, j1, y, ys);
}

/* Shared by the two entry points: rounds x's rows once (pairs in k order, zero-padded to kp), then the kernel. */
static void gemm(int avx512, int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                 int j0, int j1, float *y, int64_t y0, int ys) {
    if (rows <= 0 || j1 <= j0) return;
    if (order == ORDER_TINYBLAS && k % 32 != 0) abort();     /* llama.cpp never runs tinyBLAS there (the Java side checks) */
    int kp = padded_k(k);
    uint32_t *xw = take_scratch((size_t) rows * (kp / 2));
    if (xw == NULL) abort();
    for (int r = 0; r < rows; r++) {
        const float *xr = x + x0 + (int64_t) r * xs;
        uint16_t *h = (uint16_t *) (xw + (int64_t) r * (kp / 2));
#ifdef CAPMOE_X86
        if (avx512) round_row_avx512(xr, k, h);
        else
#endif
        round_row_portable(xr, k, h);
        memset(h + k, 0, (size_t) (kp - k) * 2);
    }
    kernel(avx512, order, xw, kp / 2, rows, k, panels, j0, j1, y + y0, ys);
}

/**
 * y[y0 + r*ys + j - j0] = bf16(x[x0 + r*xs ..]) . W[j] in llama.cpp's order `order` (0 VEC_DOT,
 * 1 TINYBLAS: k a multiple of 32) for rows r < rows and columns j in [j0, j1) (j0 a multiple of
 * 16), W given as panels of k columns (capmoe_bf16_pack): x's rows are rounded to bf16 once
 * (ggml's rounding), then the AVX512_BF16 kernel when the CPU has it, else the portable one. On
 * the calling thread only.
 */
void capmoe_bf16_gemm(int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                      int j0, int j1, float *y, int64_t y0, int ys) {
    gemm(has_avx512bf16(), order, x, x0, xs, rows, k, panels, j0, j1, y, y0, ys);
}

/** capmoe_bf16_gemm on the portable kernel whatever the CPU (the tests compare the two). */
void capmoe_bf16_gemm_portable(int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                               int j0, int j1, float *y, int64_t y0, int ys) {
    gemm(0, order, x, x0, xs, rows, k, panels, j0, j1, y, y0, ys);
}

/**
 * Columns [c0, c1) (0 <= c0 <= c1 <= k) of one row of activations, x[x0 + c0 .. x0 + c1), rounded
 * to bf16 (ggml's rounding, as capmoe_bf16_gemm rounds them) into the row's prepared form at
 * out + o0 (o0 in 32-bit words): the kp/2 pairs in k order, value c at uint16 index c, zero-padded
 * to kp = k rounded up to 64 (written by the call that ends at c1 == k). Calls on disjoint column
 * ranges of one row write disjoint bytes, so a row may be prepared tile by tile from several
 * threads. capmoe_bf16_gemm_prepared then multiplies such rows without rounding them again.
 */
void capmoe_bf16_prepare(const float *x, int64_t x0, int k, int c0, int c1, uint32_t *out, int64_t o0) {
    if (c0 < 0 || c1 > k || c0 > c1) abort();
    uint16_t *h = (uint16_t *) (out + o0);
#ifdef CAPMOE_X86
    if (has_avx512bf16()) round_row_avx512(x + x0 + c0, c1 - c0, h + c0);
    else
#endif
    round_row_portable(x + x0 + c0, c1 - c0, h + c0);
    if (c1 == k) memset(h + k, 0, (size_t) (padded_k(k) - k) * 2);
}

/**
 * capmoe_bf16_gemm on rows already prepared by capmoe_bf16_prepare: row r's kp/2 pairs at
 * xw + x0 + r*xs (x0 and xs in 32-bit words, xs >= kp/2). The same kernel, so the same bits.
 */
void capmoe_bf16_gemm_prepared(int order, const uint32_t *xw, int64_t x0, int xs, int rows, int k, const uint16_t *panels,
                               int j0, int j1, float *y, int64_t y0, int ys) {
    if (rows <= 0 || j1 <= j0) return;
    if (order == ORDER_TINYBLAS && k % 32 != 0) abort();
    kernel(has_avx512bf16(), order, xw + x0, xs, rows, k, panels, j0, j1, y + y0, ys);
}
