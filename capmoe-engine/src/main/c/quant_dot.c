/*
 * capmoe's Q8_0 / Q4_0 kernels for --dot reduced: y = x W^T with W in llama.cpp's block formats
 * and each row of x already quantized to Q8_0 by the Java side (capmoe.kernels.QuantDot, ggml's
 * x86 quantize_row_q8_0), multiplied as llama.cpp's CPU backend multiplies them: exact int8 dot
 * products per block, then fp32 scale products in llama.cpp's order. Called over FFM; every
 * function works on the calling thread only, the Java side splits the columns over its threads.
 *
 * Weight layout ("dot panels", made once at load by capmoe_qdot_pack from ggml's row-major
 * blocks; the format's own bytes, no copy of the fp32 values): columns of y cut into panels of 16
 * (NPC); panel p is K/32 blocks of PB bytes, block b (k = 32b .. 32b+31) being
 *   - the 16 columns' fp16 scales d (32 bytes, column order);
 *   - Q8_0: for g = 0..7, for column c = 0..15, the 4 bytes q[32b+4g .. 32b+4g+3] + 128 (unsigned):
 *     one zmm per g is vpdpbusd's unsigned operand for 16 columns (512 bytes; PB = 544 = 16 x 34);
 *   - Q4_0: for h = 0..3, for column c, ggml's 4 bytes qs[4h .. 4h+3] (low nibble = element
 *     4h+t, high nibble = element 16+4h+t, value n - 8): 256 bytes; PB = 288 = 16 x 18.
 * The interleaving of N rows' blocks is llama.cpp's CPU repack idea (block<K, N>,
 * ggml/src/ggml-cpu/repack.h line 23). Columns past n are scale 0, weight 0.
 *
 * Activation layout (capmoe.kernels.QuantDot writes it): per row, K/32 blocks of 72 bytes, xb bytes
 * apart (72 packed; 128 where a block sits in place of the 32 floats it was made from):
 * int8 q[32] (ggml's block_q8_0 qs), int32 c8[8] = -128 * (q[4g] + .. + q[4g+3]),
 * int32 c4 = -8 * (q[0] + .. + q[31]), float d (the block's fp16 scale, widened). c8 / c4 turn
 * vpdpbusd's unsigned weight bytes (q + 128, nibble n) back into signed sums:
 * sum (w+128) x - 128 sum x = sum w x exactly (no saturation: vpdpbusd adds 32-bit products).
 *
 * The arithmetic, per output element y[r, j] (llama.cpp snapshot 3f545be), with D_b = d_w[b] * d_x[b]
 * (a product of two fp16 values, exact in fp32) and integer block sums (exact):
 *   - Q8_0, as ggml_vec_dot_q8_0_q8_0 (ggml/src/ggml-cpu/arch/x86/quants.c lines 1308-1341, AVX2
 *     branch: what an AVX-512 build runs for the experts' MUL_MAT_ID) and llamafile's
 *     tinyBLAS_Q0_AVX (ggml/src/ggml-cpu/llamafile/sgemm.cpp lines 1522-1680: the dense MUL_MAT)
 *     both compute: 8 fp32 lanes, lane g = sum over blocks in order of fma(D_b, S_bg, lane g) with
 *     S_bg = sum_{t<4} w[32b+4g+t] x[32b+4g+t], then hsum_float_8 (quants.c line 43; sgemm.cpp
 *     hsum, lines 252-271):  y = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
 *   - Q4_0, as the repacked q4_0_8x8 kernels that llama.cpp picks for Q4_0 on AVX2/AVX-512
 *     (ggml_repack_get_optimal_repack_type, repack.cpp line 4574; gemv/gemm in
 *     arch/x86/repack.cpp lines 522-640 and 641-1440): ONE fp32 chain over blocks,
 *     acc = fma(float(S_b), D_b, acc), S_b the whole block's integer sum.
 * Every element goes through these operations whatever the tile height (1..MR rows), its row or
 * column position, the column range or the thread, and the three code paths (AVX-512 VNNI, AVX2,
 * portable C with fmaf) give the same bits: a row's result never depends on the batch
 * (capmoe.kernels.MatMul's invariant, within this mode).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define QD_X86 1
#define QD_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")))
#define QD_T256 __attribute__((target("avx2,f16c,fma")))
#endif

#define QK 32     /* weights per block */
#define NPC 16    /* output columns per panel */
#define FMT_Q8 0
#define FMT_Q4 1

static int64_t panel_block_bytes(int fmt) { return fmt == FMT_Q8 ? 32 + 512 : 32 + 256; }

/* fp16 -> fp32, exact (subnormals included), for the portable kernel. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {                                  /* subnormal: man * 2^-24, exact */
        float f = (float)man * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Bytes of the dot panels of an n x k matrix (k a multiple of 32). */
int64_t capmoe_qdot_bytes(int fmt, int64_t n, int64_t k) {
    return (n + NPC - 1) / NPC * (k / QK) * panel_block_bytes(fmt);
}

/*
 * Repacks W [n x k] from ggml's row-major blocks (block_q8_0: fp16 d + 32 int8; block_q4_0: fp16 d
 * + 16 bytes of nibbles; src holds rows row0 .. of W) into panels p0 .. p1-1 of the dot panels
 * at dst (see the top; panel p at dst + p * (k/32) * PB).
 */
void capmoe_qdot_pack(int fmt, const uint8_t *src, int64_t row0, int64_t n, int64_t k, uint8_t *dst, int64_t p0, int64_t p1) {
    int64_t nb = k / QK, pb = panel_block_bytes(fmt), sb = fmt == FMT_Q8 ? 34 : 18;
    for (int64_t p = p0; p < p1; p++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *o = dst + (p * nb + b) * pb;
            for (int c = 0; c < NPC; c++) {
                int64_t j = p * NPC + c;
                uint8_t *words = o + 32 + 4 * c;
                if (j >= n) {
                    o[2 * c] = o[2 * c + 1] = 0;
                    for (int g = 0; g < (fmt == FMT_Q8 ? 8 : 4); g++) memset(words + 64 * g, fmt == FMT_Q8 ? 0x80 : 0x88, 4);
                    continue;
                }
                const uint8_t *s = src + ((j - row0) * nb + b) * sb;
                o[2 * c] = s[0];
                o[2 * c + 1] = s[1];
                if (fmt == FMT_Q8) {
                    for (int g = 0; g < 8; g++) for (int t = 0; t < 4; t++) words[64 * g + t] = (uint8_t)(s[2 + 4 * g + t] ^ 0x80);
                } else {
                    for (int h = 0; h < 4; h++) memcpy(words + 64 * h, s + 2 + 4 * h, 4);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- portable C */

static int32_t xc8(const uint8_t *xb, int g) { int32_t v; memcpy(&v, xb + 32 + 4 * g, 4); return v; }
static int32_t xc4(const uint8_t *xb) { int32_t v; memcpy(&v, xb + 64, 4); return v; }
static float xd(const uint8_t *xb) { float v; memcpy(&v, xb + 68, 4); return v; }

/* One output (row x, column c of panel wp) in the order described at the top. */
static float dot_scalar(int fmt, const uint8_t *wp, int64_t nb, const uint8_t *x, int64_t xbs, int c) {
    int64_t pb = panel_block_bytes(fmt);
    if (fmt == FMT_Q8) {
        float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *wb = wp + b * pb, *xb = x + b * xbs;
            float d = half_to_float((uint16_t)(wb[2 * c] | wb[2 * c + 1] << 8)) * xd(xb);
            for (int g = 0; g < 8; g++) {
                int32_t s = xc8(xb, g);
                for (int t = 0; t < 4; t++) s += (int32_t)wb[32 + 64 * g + 4 * c + t] * (int8_t)xb[4 * g + t];
                a[g] = fmaf(d, (float)s, a[g]);
            }
        }
        return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    }
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wp + b * pb, *xb = x + b * xbs;
        float d = half_to_float((uint16_t)(wb[2 * c] | wb[2 * c + 1] << 8)) * xd(xb);
        int32_t s = xc4(xb);
        for (int h = 0; h < 4; h++) {
            for (int t = 0; t < 4; t++) {
                uint8_t v = wb[32 + 64 * h + 4 * c + t];
                s += (int32_t)(v & 0x0F) * (int8_t)xb[4 * h + t] + (int32_t)(v >> 4) * (int8_t)xb[16 + 4 * h + t];
            }
        }
        acc = fmaf((float)s, d, acc);
    }
    return acc;
}

static void gemm_scalar(int fmt, const uint8_t *w, int64_t k, const uint8_t *x, int64_t xs, int64_t xbs, int64_t rows,
                        int64_t j0, int64_t j1, float *y, int64_t ys) {
    int64_t nb = k / QK, pb = panel_block_bytes(fmt);
    for (int64_t p = j0 / NPC; p * NPC < j1; p++) {
        const uint8_t *wp = w + p * nb * pb;
        for (int64_t r = 0; r < rows; r++) {
            for (int c = 0; c < NPC && p * NPC + c < j1; c++) y[r * ys + p * NPC + c - j0] = dot_scalar(fmt, wp, nb, x + r * xs, xbs, c);
        }
    }
}

#if defined(QD_X86)
/* ---------------------------------------------------------------- AVX-512 VNNI */

#define MR8 2   /* Q8_0 rows per tile: 2 x 8 accumulators + scales + temporaries (3 spill and run slower) */
#define MR4 6   /* Q4_0 rows per tile: 6 accumulators + 8 unpacked weight vectors */

static inline __attribute__((always_inline)) QD_T512
void q8_tile512(const uint8_t *wp, int64_t nb, const uint8_t *x, int64_t xs, int64_t xbs, const int R, float *y, int64_t ys, int ncols) {
    __m512 a[MR8][8];
    for (int r = 0; r < R; r++) for (int g = 0; g < 8; g++) a[r][g] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wp + b * 544;
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)wb));
        __m512 d[MR8];
        for (int r = 0; r < R; r++) d[r] = _mm512_mul_ps(dw, _mm512_set1_ps(xd(x + r * xs + b * xbs)));
        for (int g = 0; g < 8; g++) {
            __m512i wv = _mm512_loadu_si512((const void *)(wb + 32 + 64 * g));
            for (int r = 0; r < R; r++) {
                const uint8_t *xb = x + r * xs + b * xbs;
                int32_t q;
                memcpy(&q, xb + 4 * g, 4);
                __m512i s = _mm512_dpbusd_epi32(_mm512_set1_epi32(xc8(xb, g)), wv, _mm512_set1_epi32(q));
                a[r][g] = _mm512_fmadd_ps(d[r], _mm512_cvtepi32_ps(s), a[r][g]);
            }
        }
    }
    __mmask16 m = (__mmask16)((1u << ncols) - 1);
    for (int r = 0; r < R; r++) {
        __m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[r][0], a[r][4]), _mm512_add_ps(a[r][2], a[r][6])),
                                 _mm512_add_ps(_mm512_add_ps(a[r][1], a[r][5]), _mm512_add_ps(a[r][3], a[r][7])));
        _mm512_mask_storeu_ps(y + r * ys, m, v);
    }
}

static inline __attribute__((always_inline)) QD_T512
void q4_tile512(const uint8_t *wp, int64_t nb, const uint8_t *x, int64_t xs, int64_t xbs, const int R, float *y, int64_t ys, int ncols) {
    __m512 a[MR4];
    const __m512i lo = _mm512_set1_epi8(0x0F);
    for (int r = 0; r < R; r++) a[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wp + b * 288;
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)wb));
        __m512i wv[8];
        for (int h = 0; h < 4; h++) {
            __m512i raw = _mm512_loadu_si512((const void *)(wb + 32 + 64 * h));
            wv[h] = _mm512_and_si512(raw, lo);
            wv[h + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lo);
        }
        for (int r = 0; r < R; r++) {
            const uint8_t *xb = x + r * xs + b * xbs;
            __m512i s = _mm512_set1_epi32(xc4(xb));
            for (int g = 0; g < 8; g++) {
                int32_t q;
                memcpy(&q, xb + 4 * g, 4);
                s = _mm512_dpbusd_epi32(s, wv[g], _mm512_set1_epi32(q));
            }
            a[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(xd(xb))), a[r]);
        }
    }
    __mmask16 m = (__mmask16)((1u << ncols) - 1);
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(y + r * ys, m, a[r]);
}

QD_T512 static void gemm_avx512(int fmt, const uint8_t *w, int64_t k, const uint8_t *x, int64_t xs, int64_t xbs, int64_t rows,
                                int64_t j0, int64_t j1, float *y, int64_t ys) {
    int64_t nb = k / QK, pb = panel_block_bytes(fmt);
    for (int64_t p = j0 / NPC; p * NPC < j1; p++) {
        const uint8_t *wp = w + p * nb * pb;
        int ncols = (int)(j1 - p * NPC < NPC ? j1 - p * NPC : NPC);
        float *yp = y + p * NPC - j0;
        int64_t r = 0;
        if (fmt == FMT_Q8) {
            for (; r + MR8 <= rows; r += MR8) q8_tile512(wp, nb, x + r * xs, xs, xbs, MR8, yp + r * ys, ys, ncols);
            if (rows - r == 1) q8_tile512(wp, nb, x + r * xs, xs, xbs, 1, yp + r * ys, ys, ncols);
        } else {
            for (; r + MR4 <= rows; r += MR4) q4_tile512(wp, nb, x + r * xs, xs, xbs, MR4, yp + r * ys, ys, ncols);
            switch (rows - r) {
                case 5: q4_tile512(wp, nb, x + r * xs, xs, xbs, 5, yp + r * ys, ys, ncols); break;
                case 4: q4_tile512(wp, nb, x + r * xs, xs, xbs, 4, yp + r * ys, ys, ncols); break;
                case 3: q4_tile512(wp, nb, x + r * xs, xs, xbs, 3, yp + r * ys, ys, ncols); break;
                case 2: q4_tile512(wp, nb, x + r * xs, xs, xbs, 2, yp + r * ys, ys, ncols); break;
                case 1: q4_tile512(wp, nb, x + r * xs, xs, xbs, 1, yp + r * ys, ys, ncols); break;
                default: break;
            }
        }
    }
}

/* ---------------------------------------------------------------- AVX2 (no VNNI) */

/*
 * Sum over the 4 bytes of each 32-bit lane of w (signed) times x (signed, |x| <= 127), exact: ggml's
 * mul_sum_i8_pairs (quants.c line 29): |w| as unsigned (128 for -128) times x with w's sign, so a
 * pair is at most 2 * 128 * 127 and maddubs never saturates.
 */
static inline __attribute__((always_inline)) QD_T256 __m256i dot4_signed(__m256i w, __m256i x) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

QD_T256 static void gemm_avx2(int fmt, const uint8_t *w, int64_t k, const uint8_t *x, int64_t xs, int64_t xbs, int64_t rows,
                              int64_t j0, int64_t j1, float *y, int64_t ys) {
    int64_t nb = k / QK, pb = panel_block_bytes(fmt);
    const __m256i flip = _mm256_set1_epi8((char)0x80), lo = _mm256_set1_epi8(0x0F);
    for (int64_t p = j0 / NPC; p * NPC < j1; p++) {
        const uint8_t *wp = w + p * nb * pb;
        for (int half = 0; half < 2; half++) {
            int64_t c0 = p * NPC + 8 * half;
            if (c0 >= j1) break;
            int ncols = (int)(j1 - c0 < 8 ? j1 - c0 : 8);
            for (int64_t r = 0; r < rows; r++) {
                const uint8_t *xr = x + r * xs;
                float out[8];
                if (fmt == FMT_Q8) {
                    __m256 a[8];
                    for (int g = 0; g < 8; g++) a[g] = _mm256_setzero_ps();
                    for (int64_t b = 0; b < nb; b++) {
                        const uint8_t *wb = wp + b * pb, *xb = xr + b * xbs;
                        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + 16 * half))), _mm256_set1_ps(xd(xb)));
                        for (int g = 0; g < 8; g++) {
                            int32_t q;
                            memcpy(&q, xb + 4 * g, 4);
                            __m256i wv = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + 32 + 64 * g + 32 * half)), flip);
                            __m256i s = dot4_signed(wv, _mm256_set1_epi32(q));
                            a[g] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), a[g]);
                        }
                    }
                    __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6])),
                                             _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7])));
                    _mm256_storeu_ps(out, v);
                } else {
                    __m256 acc = _mm256_setzero_ps();
                    for (int64_t b = 0; b < nb; b++) {
                        const uint8_t *wb = wp + b * pb, *xb = xr + b * xbs;
                        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + 16 * half))), _mm256_set1_ps(xd(xb)));
                        __m256i s = _mm256_set1_epi32(xc4(xb));
                        for (int h = 0; h < 4; h++) {
                            __m256i raw = _mm256_loadu_si256((const __m256i *)(wb + 32 + 64 * h + 32 * half));
                            int32_t q0, q1;
                            memcpy(&q0, xb + 4 * h, 4);
                            memcpy(&q1, xb + 16 + 4 * h, 4);
                            /* nibbles 0..15 unsigned times signed x: |pair| <= 2*15*127, no saturation */
                            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(raw, lo), _mm256_set1_epi32(q0));
                            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, 4), lo), _mm256_set1_epi32(q1));
                            s = _mm256_add_epi32(s, _mm256_madd_epi16(p0, _mm256_set1_epi16(1)));
                            s = _mm256_add_epi32(s, _mm256_madd_epi16(p1, _mm256_set1_epi16(1)));
                        }
                        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc);
                    }
                    _mm256_storeu_ps(out, acc);
                }
                memcpy(y + r * ys + c0 - j0, out, sizeof(float) * (size_t)ncols);
            }
        }
    }
}
#endif

/* ---------------------------------------------------------------- dispatch */

typedef void (*gemm_fn)(int, const uint8_t *, int64_t, const uint8_t *, int64_t, int64_t, int64_t, int64_t, int64_t, float *, int64_t);

/* 2 = AVX-512 VNNI, 1 = AVX2, 0 = portable C; -1 = not chosen yet. */
static int isa = -1;

static int best_isa(void) {
#if defined(QD_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

/*
 * The kernel path in use: level < 0 asks (choosing the best the CPU has on the first call);
 * level 0..2 selects that path, or the best one below it that the CPU has (for the tests, which
 * compare the paths bit for bit). Returns the level in use.
 */
int capmoe_qdot_isa(int level) {
    int best = best_isa();
    int now = __atomic_load_n(&isa, __ATOMIC_RELAXED);
    if (level >= 0 || now < 0) {
        now = level < 0 || level > best ? best : level;
        __atomic_store_n(&isa, now, __ATOMIC_RELAXED);
    }
    return now;
}

/*
 * y[y0 + r*ys + j - j0] = x_r . W[j] for rows r < rows (x_r at x + x0 + r*xs bytes, its blocks xbs bytes
 * apart) and columns j0 <= j < j1 (j0 a multiple of 16) of the dot panels w (K = k), in the order
 * described at the top. x0 and y0 (bytes, floats) let the Java side pass whole heap arrays, whose
 * segments it keeps, instead of a new slice per call.
 */
void capmoe_qdot_gemm(int fmt, const uint8_t *w, int64_t k, const uint8_t *x, int64_t x0, int64_t xs, int64_t xbs, int64_t rows,
                      int64_t j0, int64_t j1, float *y, int64_t y0, int64_t ys) {
    x += x0;
    y += y0;
    int level = __atomic_load_n(&isa, __ATOMIC_RELAXED);
    if (level < 0) level = capmoe_qdot_isa(-1);
    gemm_fn f = gemm_scalar;
#if defined(QD_X86)
    if (level == 2) f = gemm_avx512;
    else if (level == 1) f = gemm_avx2;
#endif
    f(fmt, w, k, x, xs, xbs, rows, j0, j1, y, ys);
}

/* ---------------------------------------------------------------- activation quantization */

/*
 * fp32 -> fp16 rounded to nearest even, overflow to infinity (F16C's vcvtps2ph with imm 0, Java's
 * Float.floatToFloat16), for the portable quantizer; NaN keeps its top payload bits, quieted.
 */
static uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xFF, m = x & 0x7FFFFF;
    if (e == 0xFF) return (uint16_t)(sign | 0x7C00 | (m ? 0x200 | (m >> 13) : 0));
    int32_t he = (int32_t)e - 127 + 15;
    if (he >= 31) return (uint16_t)(sign | 0x7C00);
    if (he <= 0) {                                            /* subnormal half (or zero) */
        if (he < -10) return (uint16_t)sign;
        m |= 0x800000;
        int shift = 14 - he;                                  /* 14..24 */
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)he << 10) | (m >> 13), rem = m & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;      /* a carry into the exponent is right, up to infinity */
    return (uint16_t)(sign | h);
}

/* vcvtps2dq (nearest even) then saturating packs to int8: NaN and |v| >= 2^31 give -128. */
static int8_t round_q(float v) {
    if (!(fabsf(v) < 0x1p31f)) return -128;
    float r = nearbyintf(v);
    return (int8_t)(r < -128.0f ? -128 : r > 127.0f ? 127 : (int)r);
}

/* One block's tail, shared by the paths: c8[g] = -128 * (q[4g] + .. + q[4g+3]), c4 = -8 * sum q, d. */
static void block_sums(uint8_t *o, float d) {
    int32_t total = 0;
    for (int g = 0; g < 8; g++) {
        int32_t s = 0;
        for (int t = 0; t < 4; t++) s += (int8_t)o[4 * g + t];
        int32_t c = -128 * s;
        memcpy(o + 32 + 4 * g, &c, 4);
        total += s;
    }
    int32_t c4 = -8 * total;
    memcpy(o + 64, &c4, 4);
    memcpy(o + 68, &d, 4);
}

static void quantize_scalar(const float *x, int64_t k, uint8_t *o, int64_t bs) {
    for (int64_t b = 0; b < k; b += QK, o += bs) {
        float v[QK], amax = 0.0f;
        memcpy(v, x + b, sizeof v);                          /* all read before the block is written (in place) */
        for (int c = 0; c < QK; c++) { float a = fabsf(v[c]); amax = a > amax || a != a ? a : amax; }
        float d = half_to_float(float_to_half(amax / 127.0f)), id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (int c = 0; c < QK; c++) o[c] = (uint8_t)round_q(v[c] * id);
        block_sums(o, d);
    }
}

#if defined(QD_X86)
QD_T512 static void quantize_avx512(const float *x, int64_t k, uint8_t *o, int64_t bs) {
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < k; b += QK, o += bs) {
        __m512 v0 = _mm512_loadu_ps(x + b), v1 = _mm512_loadu_ps(x + b + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
        float amax = _mm512_reduce_max_ps(m);
        if (_mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q)) amax = __builtin_nanf("");
        float d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, 0)), id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m512 s = _mm512_set1_ps(id);
        __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, s)));
        __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, s)));
        __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
        __m256i g = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);      /* the 8 groups' sums of 4 */
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        int32_t c4 = -8 * _mm_cvtsi128_si32(t);
        _mm256_storeu_si256((__m256i *)o, q);
        _mm256_storeu_si256((__m256i *)(o + 32), _mm256_mullo_epi32(g, _mm256_set1_epi32(-128)));
        memcpy(o + 64, &c4, 4);
        memcpy(o + 68, &d, 4);
    }
}

QD_T256 static void quantize_avx2(const float *x, int64_t k, uint8_t *o, int64_t bs) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k; b += QK, o += bs) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + b + 8 * i);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        int nan = 0;
        for (int i = 0; i < 4; i++) nan |= _mm256_movemask_ps(_mm256_cmp_ps(v[i], v[i], _CMP_UNORD_Q));
        if (nan) amax = __builtin_nanf("");
        float d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, 0)), id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m256 s = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], s)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], s));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], s)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], s));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));   /* ggml's order fix-up of the packs */
        _mm256_storeu_si256((__m256i *)o, p);
        block_sums(o, d);
    }
}
#endif

/*
 * Rows r < rows of x (row r at x + x0 + r*xs floats, k values, k a multiple of 32) to Q8_0
 * activation blocks (the layout at the top; row r's block b at out + o0 + r*os + b*bs bytes), as
 * ggml's x86 quantize_row_q8_0 (ggml/src/ggml-cpu/arch/x86/quants.c lines 302-346; QuantDot.quantize
 * gives the steps): amax = max |x|, d = fp16(amax / 127) to nearest even, id = 127 / amax (0 when amax
 * is 0), q = x * id to nearest even with vcvtps2dq's -128 for NaN and overflow, saturated to int8.
 * A block's 32 floats are all read before its bytes are written, so out may lie over x itself
 * (bs = 128: block b in place of floats 32b .. 32b+31). The three paths give the same bytes
 * (NaN input: a NaN scale, whichever NaN).
 */
void capmoe_qdot_quantize(const float *x, int64_t x0, int64_t xs, int64_t rows, int64_t k, uint8_t *out, int64_t o0, int64_t os, int64_t bs) {
    int level = __atomic_load_n(&isa, __ATOMIC_RELAXED);
    if (level < 0) level = capmoe_qdot_isa(-1);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + x0 + r * xs;
        uint8_t *o = out + o0 + r * os;
#if defined(QD_X86)
        if (level == 2) { quantize_avx512(xr, k, o, bs); continue; }
        if (level == 1) { quantize_avx2(xr, k, o, bs); continue; }
#endif
        quantize_scalar(xr, k, o, bs);
    }
}

