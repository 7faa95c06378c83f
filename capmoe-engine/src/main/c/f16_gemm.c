/*
 * capmoe's exact F16 GEMM: y = x W^T for F16 weights and fp32 activations, the EXACT mode's
 * arithmetic (capmoe.kernels.MatMul's invariant), in C so that the widening of the weights is
 * AVX-512's vcvtph2ps straight from memory, inside the register tile, instead of Java's separate
 * pass through an fp32 scratch per K block. Called over FFM (capmoe.kernels.F16Gemm) for the
 * prefill (rows >= 6) when the CPU has AVX-512; every function works on the calling thread only,
 * the Java side splits the columns over its threads.
 *
 * Layout of the weights: capmoe.kernels.Panels' F16 panels, as Java packs them (no copy): the
 * columns of y cut into panels of nr outputs (nr = 2L, 32 with AVX-512), panel p at element
 * p * k * nr, holding for each k the nr halves W[p*nr .. p*nr+nr-1, k] in column order (columns
 * past n are zero), all finite (a matrix with an infinity or a NaN is packed as F32 panels).
 *
 * Every output element y[r, j] is ONE fp32 fused multiply-add chain over k in order,
 *     c = 0;  for i = 0 .. k-1:  c = fma(x[r, i], (float) W[j, i], c);  y[r, j] = c;
 * each step one IEEE operation (the half widened exactly, one rounding per fma), the same chain as
 * MatMul.reference, Java's Math.fma steps, so the bits are the Java kernels'. It does not depend on
 * the tile height, the number of rows, the column range, the K blocking (a K block after the first
 * continues each chain from the fp32 value stored in y) or the thread. The AVX-512 and portable
 * kernels give the same bits on every input (vcvtph2ps is exact and the JVM runs without DAZ/FTZ);
 * F16GemmTest compares both with the Java path bit for bit.
 */
#include <math.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define F16_X86 1
#define F16_AVX512 __attribute__((target("avx512f")))
#endif

#define F16_NR 32           /* panel width the AVX-512 kernel reads: two zmm of widened halves */
#define F16_MR 12           /* rows per register tile: 12 x 2 zmm accumulators + 2 weight zmm + 1 broadcast */
#define F16_KC 256          /* panel rows per K block: 16 KB of halves stay in L1 across a row block's tiles */
#define F16_MC 240          /* rows per row block */
/* Panel rows ahead that a tile prefetches into L1, one 64-byte panel row per k: the experts' weights
 * come from memory once per call (64 columns of a 2048-column expert, 32 rows of x), and the hardware
 * prefetchers alone leave the first tile waiting. One Zen 4 core, CPU time, E=64 M=32 K=2048 N=1024
 * (scripts/GemmBench.java's loop in C, two runs each, load average 12): none 90-92 GFLOP/s, 4 rows
 * ahead 91-93, 8 95-96, 16 96-98, 32 98-101, 64 99-100, 128 100. */
#define F16_PREFETCH 32
#define F16_X_L2 (512 * 1024)   /* bytes of x rows kept in L2 while one panel streams past (MatMul.panelMajor) */

/* One IEEE half as fp32, exactly (Java's Float.float16ToFloat). */
static inline float half_float(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    union { uint32_t u; float f; } v;
    if (e == 0) {
        v.f = (float) m * 0x1p-24f;            /* zero or subnormal: m * 2^-24, exact */
        v.u |= sign;
    } else if (e == 31) {
        v.u = sign | 0x7f800000u | m << 13;    /* infinity or NaN (a panel holds none) */
    } else {
        v.u = sign | (e + 112) << 23 | m << 13;
    }
    return v.f;
}

/* The portable chain, output by output (no blocking: the chain is the same). */
static void gemm_portable(const float *x, int xs, int rows, int k, const uint16_t *panels, int nr,
                          int j0, int j1, float *y, int ys) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t) r * xs;
        for (int j = j0; j < j1; j++) {
            const uint16_t *w = panels + (int64_t) (j / nr) * k * nr + j % nr;
            float c = 0;
            for (int i = 0; i < k; i++) c = fmaf(xr[i], half_float(w[(int64_t) i * nr]), c);
            y[(int64_t) r * ys + j - j0] = c;
        }
    }
}

static int has_avx512(void) {
#ifdef F16_X86
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f");
    }
    return known;
#else
    return 0;
#endif
}

#ifdef F16_X86
/*
 * One register tile: M rows of x (x[r*xs + i], i < kn) times kn rows of one panel (w, F16_NR halves
 * per row), chains started from y (add) or zero, columns kept by the masks m0 (0..15) and m1 (16..31).
 * Per k: two vcvtph2ps from memory, M broadcasts, 2M fused multiply-adds, one prefetch.
 */
#define F16_TILE(M) \
F16_AVX512 static void f16_tile_##M(const float *x, int xs, const uint16_t *w, int kn, float *y, int ys, \
        __mmask16 m0, __mmask16 m1, int add) { \
    __m512 a[M][2]; \
    _Pragma("GCC unroll 12") for (int r = 0; r < M; r++) { \
        a[r][0] = add ? _mm512_maskz_loadu_ps(m0, y + (int64_t) r * ys) : _mm512_setzero_ps(); \
        a[r][1] = add ? _mm512_maskz_loadu_ps(m1, y + (int64_t) r * ys + 16) : _mm512_setzero_ps(); \
    } \
    for (int i = 0; i < kn; i++, w += F16_NR) { \
        _mm_prefetch((const char *) (w + F16_PREFETCH * F16_NR), _MM_HINT_T0); \
        __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) w)); \
        __m512 hi = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (w + 16))); \
        _Pragma("GCC unroll 12") for (int r = 0; r < M; r++) { \
            __m512 b = _mm512_set1_ps(x[(int64_t) r * xs + i]); \
            a[r][0] = _mm512_fmadd_ps(b, lo, a[r][0]); \
            a[r][1] = _mm512_fmadd_ps(b, hi, a[r][1]); \
        } \
    } \
    _Pragma("GCC unroll 12") for (int r = 0; r < M; r++) { \
        _mm512_mask_storeu_ps(y + (int64_t) r * ys, m0, a[r][0]); \
        _mm512_mask_storeu_ps(y + (int64_t) r * ys + 16, m1, a[r][1]); \
    } \
}
F16_TILE(12) F16_TILE(11) F16_TILE(10) F16_TILE(9) F16_TILE(8) F16_TILE(7)
F16_TILE(6) F16_TILE(5) F16_TILE(4) F16_TILE(3) F16_TILE(2) F16_TILE(1)
#undef F16_TILE

typedef void (*f16_tile_fn)(const float *, int, const uint16_t *, int, float *, int, __mmask16, __mmask16, int);
static const f16_tile_fn F16_TILES[F16_MR + 1] = {0, f16_tile_1, f16_tile_2, f16_tile_3, f16_tile_4, f16_tile_5,
        f16_tile_6, f16_tile_7, f16_tile_8, f16_tile_9, f16_tile_10, f16_tile_11, f16_tile_12};

/*
 * Columns [j0, j1) (j0 a multiple of F16_NR) of y = x W^T, BLIS's loops as MatMul's Java kernel
 * runs them: per block of F16_MC rows, per (panel, K block of F16_KC panel rows) in MatMul.panelMajor's
 * order (panel by panel when the block's rows of x fit in F16_X_L2 bytes, else K block by K block),
 * the row tiles of F16_MR rows, then one of the rest.
 */
F16_AVX512 static void gemm_avx512(const float *x, int xs, int rows, int k, const uint16_t *panels,
                                   int j0, int j1, float *y, int ys) {
    int p = j0 / F16_NR, pend = (j1 + F16_NR - 1) / F16_NR, nq = pend - p, nk = (k + F16_KC - 1) / F16_KC;
    int64_t pstride = (int64_t) k * F16_NR;
    for (int r0 = 0; r0 < rows; r0 += F16_MC) {
        int m = rows - r0 < F16_MC ? rows - r0 : F16_MC;
        int panel_major = 4LL * m * k <= F16_X_L2;
        for (int b = 0; b < nk * nq; b++) {
            int q = p + (panel_major ? b / nk : b % nq), c0 = (panel_major ? b % nk : b / nq) * F16_KC;
            int kn = k - c0 < F16_KC ? k - c0 : F16_KC, width = j1 - q * F16_NR;
            __mmask16 m0 = width >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << width) - 1);
            __mmask16 m1 = width >= 32 ? (__mmask16) 0xffff : width > 16 ? (__mmask16) ((1u << (width - 16)) - 1) : 0;
            const uint16_t *w = panels + q * pstride + (int64_t) c0 * F16_NR;
            for (int r = 0; r < m;) {
                int h = m - r >= F16_MR ? F16_MR : m - r;
                F16_TILES[h](x + (int64_t) (r0 + r) * xs + c0, xs, w, kn,
                             y + (int64_t) (r0 + r) * ys + (q - p) * F16_NR, ys, m0, m1, c0 > 0);
                r += h;
            }
        }
    }
}
#endif

/** 1 when capmoe_f16_gemm runs the AVX-512 kernel on this CPU for panels of nr columns, 0 when the portable one. */
int capmoe_f16_isa(int nr) {
    return nr == F16_NR && has_avx512();
}

/**
 * y[y0 + r*ys + j - j0] = x[x0 + r*xs ..] . W[j] for rows r < rows and columns j in [j0, j1) (j0 a
 * multiple of nr), W [n x k] as F16 panels of nr columns (the layout above): the AVX-512 kernel when
 * capmoe_f16_isa(nr), else the portable one. On the calling thread only.
 */
void capmoe_f16_gemm(const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels, int nr,
                     int j0, int j1, float *y, int64_t y0, int ys) {
    if (rows <= 0 || j1 <= j0) return;
#ifdef F16_X86
    if (capmoe_f16_isa(nr)) {
        gemm_avx512(x + x0, xs, rows, k, panels, j0, j1, y + y0, ys);
        return;
    }
#endif
    gemm_portable(x + x0, xs, rows, k, panels, nr, j0, j1, y + y0, ys);
}

/** capmoe_f16_gemm on the portable kernel whatever the CPU (the tests compare the two). */
void capmoe_f16_gemm_portable(const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels, int nr,
                              int j0, int j1, float *y, int64_t y0, int ys) {
    if (rows <= 0 || j1 <= j0) return;
    gemm_portable(x + x0, xs, rows, k, panels, nr, j0, j1, y + y0, ys);
}
