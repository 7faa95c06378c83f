/*
 * capmoe's --dot reduced BF16 kernels (capmoe-engine/src/main/c/bf16_dot.c) against llama.cpp's compiled
 * code (libggml-cpu.so of the snapshot build), bit for bit, on random ragged shapes: ggml graphs of
 *   GGML_OP_MUL_MAT (BF16 weights [k x n], F32 activations [k x rows]): what the dense projections and
 *     the LM head run; llama.cpp picks tinyBLAS (rows >= 2, k % 32 == 0, n % 4 == 0) or
 *     ggml_vec_dot_bf16 itself, capmoe by the rule of capmoe.kernels.ReducedMatMul.matMulOrder,
 *     restated here;
 *   GGML_OP_MUL_MAT_ID (the experts: ggml_vec_dot_bf16 at every batch size), capmoe in VEC_DOT order;
 * each through capmoe's AVX512_BF16 kernel (where the CPU has it) and its portable one, at 1 and 3
 * ggml threads; every 11th trial's products overflow fp32 (infinities, NaN: VEC_DOT's tail then takes its
 * float-product path), compared on the AVX512_BF16 kernel only (the portable model's two fp32 additions
 * per vdpbf16ps overflow where the instruction does not). Also ggml_cpu_fp32_to_bf16 against capmoe's rounding. Built and run by scripts/bf16-vs-ggml.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "ggml.h"
#include "ggml-cpu.h"

int capmoe_bf16_isa(void);
int64_t capmoe_bf16_panel_elements(int k);
void capmoe_bf16_pack(const uint16_t *w, int n, int k, int p0, int p1, uint16_t *out);
void capmoe_bf16_round(const float *x, int n, uint16_t *out);
void capmoe_bf16_gemm(int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels, int j0, int j1, float *y, int64_t y0, int ys);
void capmoe_bf16_gemm_portable(int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels, int j0, int j1, float *y, int64_t y0, int ys);

static uint64_t st = 88172645463325252ull;
static double rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (st >> 11) * 0x1p-53 * 2 - 1; }
static long checked, fails;

static void compare(const char *what, int trial, const float *ref, const float *got, long count) {
    for (long i = 0; i < count; i++) {
        checked++;
        if (memcmp(&ref[i], &got[i], 4)) {
            if (fails < 10) printf("DIFF %s trial %d at %ld: ggml %.9g capmoe %.9g\n", what, trial, i, ref[i], got[i]);
            fails++;
        }
    }
}

/* capmoe's product of W (bf16 [n x k]) and x [rows x k] in `order`, both kernels, against ref [rows x n]. */
/* portable: 0 where the inputs overflow fp32 (vdpbf16ps sums a lane's two products with more range than the portable model's two fp32 additions) */
static void both(const char *what, int trial, int order, const uint16_t *w, int n, int k, const float *x, int rows, const float *ref, int portable_too) {
    int panels = (n + 15) / 16;
    uint16_t *p = aligned_alloc(64, (size_t) panels * capmoe_bf16_panel_elements(k) * 2);
    capmoe_bf16_pack(w, n, k, 0, panels, p);
    float *y = malloc(sizeof(float) * rows * n);
    char label[96];
    for (int portable = 0; portable < 2; portable++) {
        if (!portable && !capmoe_bf16_isa()) continue;
        if (portable && !portable_too) continue;
        /* two column ranges, as two threads of the Java side would split them */
        int split = 16 * (panels / 2);
        for (int part = 0; part < 2; part++) {
            int j0 = part ? split : 0, j1 = part ? n : split;
            if (j0 >= j1) continue;
            (portable ? capmoe_bf16_gemm_portable : capmoe_bf16_gemm)(order, x, 0, k, rows, k, p, j0, j1, y, j0, n);
        }
        snprintf(label, sizeof label, "%s %s n=%d k=%d rows=%d", what, portable ? "portable" : "avx512bf16", n, k, rows);
        compare(label, trial, ref, y, (long) rows * n);
    }
    free(y);
    free(p);
}

int main(void) {
    ggml_cpu_init();
    printf("capmoe kernel: %s\n", capmoe_bf16_isa() ? "avx512bf16 (and portable)" : "portable only");
    for (int trial = 0; trial < 120; trial++) {
        int k = trial % 3 == 0 ? 32 * (1 + (int) ((rnd() + 1) * 40)) : 1 + (int) ((rnd() + 1) * 350);
        if (trial % 10 == 1) k = 96;
        if (trial % 10 == 2) k = 192;
        int n = trial % 2 == 0 ? 4 * (1 + (int) ((rnd() + 1) * 20)) : 1 + (int) ((rnd() + 1) * 60);
        int rows = trial % 5 == 0 ? 1 : 1 + (int) ((rnd() + 1) * 20);
        int threads = trial % 2 ? 3 : 1;
        size_t mem = (size_t) 64 * 1024 * 1024;
        struct ggml_init_params ip = { mem, NULL, false };
        struct ggml_context *ctx = ggml_init(ip);
        struct ggml_tensor *a = ggml_new_tensor_2d(ctx, GGML_TYPE_BF16, k, n), *b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, rows);
        uint16_t *w = a->data;
        float *x = b->data;
        double scale = trial % 7 == 3 ? 1e-3 : trial % 7 == 4 ? 300 : 1;
        for (long i = 0; i < (long) n * k; i++) { float f = (float) (trial % 11 == 8 ? rnd() * 4 : rnd()); uint32_t u; memcpy(&u, &f, 4); w[i] = (uint16_t) (u >> 16); }
        for (long i = 0; i < (long) rows * k; i++) x[i] = (float) (rnd() * 3 * scale);
        /* some trials: products past float's range (inf, then NaN), so that the tail's float-product path runs */
        if (trial % 11 == 8) for (long i = 0; i < (long) rows * k; i += 13) x[i] = (float) (rnd() * 3e38);
        /* the rounding */
        uint16_t *mine = malloc(2 * (size_t) rows * k), *theirs = malloc(2 * (size_t) rows * k);
        capmoe_bf16_round(x, rows * k, mine);
        ggml_cpu_fp32_to_bf16(x, (ggml_bf16_t *) theirs, (int64_t) rows * k);
        for (long i = 0; i < (long) rows * k; i++) { checked++; if (mine[i] != theirs[i]) { if (fails < 10) printf("DIFF rounding trial %d at %ld\n", trial, i); fails++; } }
        free(mine); free(theirs);
        /* MUL_MAT */
        struct ggml_tensor *c = ggml_mul_mat(ctx, a, b);
        struct ggml_cgraph *gf = ggml_new_graph(ctx);
        ggml_build_forward_expand(gf, c);
        ggml_graph_compute_with_ctx(ctx, gf, threads);
        int order = rows >= 2 && k % 32 == 0 && n % 4 == 0;      /* ReducedMatMul.matMulOrder: 1 TINYBLAS, 0 VEC_DOT */
        both(order ? "mul_mat (tinyBLAS)" : "mul_mat (vec_dot)", trial, order, w, n, k, x, rows, c->data, trial % 11 != 8);
        /* MUL_MAT_ID: 3 experts of [k x n], each row of b routed to expert (row % 3), one slot per row */
        struct ggml_tensor *as = ggml_new_tensor_3d(ctx, GGML_TYPE_BF16, k, n, 3), *bb = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, k, 1, rows),
                *ids = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, 1, rows);
        uint16_t *ws = as->data;
        for (long i = 0; i < 3L * n * k; i++) { float f = (float) (trial % 11 == 8 ? rnd() * 4 : rnd()); uint32_t u; memcpy(&u, &f, 4); ws[i] = (uint16_t) (u >> 16); }
        memcpy(bb->data, x, sizeof(float) * rows * k);
        for (int r = 0; r < rows; r++) ((int32_t *) ids->data)[r] = r % 3;
        struct ggml_tensor *d = ggml_mul_mat_id(ctx, as, bb, ids);
        struct ggml_cgraph *gd = ggml_new_graph(ctx);
        ggml_build_forward_expand(gd, d);
        ggml_graph_compute_with_ctx(ctx, gd, threads);
        for (int e = 0; e < 3; e++) {
            int m = 0;
            float *xe = malloc(sizeof(float) * rows * k), *re = malloc(sizeof(float) * rows * n);
            for (int r = e; r < rows; r += 3, m++) {
                memcpy(xe + (size_t) m * k, x + (size_t) r * k, sizeof(float) * k);
                memcpy(re + (size_t) m * n, (float *) d->data + (size_t) r * n, sizeof(float) * n);
            }
            if (m > 0) both("mul_mat_id (vec_dot)", trial, 0, ws + (size_t) e * n * k, n, k, xe, m, re, trial % 11 != 8);
            free(xe); free(re);
        }
        ggml_free(ctx);
    }
    printf("%ld values compared, %ld differ\n", checked, fails);
    return fails != 0;
}
