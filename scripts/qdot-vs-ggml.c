/*
 * capmoe's --dot reduced Q8_0/Q4_0 kernels (capmoe-engine/src/main/c/quant_dot.c) against llama.cpp's
 * own compiled kernels (libggml-cpu.so of the snapshot build), bit for bit, on random shapes:
 *   weights: ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref, packed by capmoe_qdot_pack;
 *   activations: ggml's x86 quantize_row_q8_0, turned into capmoe's 72-byte activation blocks;
 *   Q8_0: ggml_vec_dot_q8_0_q8_0 per output (what MUL_MAT_ID runs; tinyBLAS has the same order);
 *   Q4_0: ggml_gemv_q4_0_8x8_q8_0 over make_block_q4_0x8's repack (repack.cpp line 2787), what
 *         llama.cpp runs for Q4_0 on AVX2/AVX-512 (ggml_repack_get_optimal_repack_type);
 * each through capmoe's three kernel paths (AVX-512 VNNI, AVX2, portable C) where the CPU has them.
 * Built and run by scripts/qdot-vs-ggml.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
#include <immintrin.h>
int64_t capmoe_qdot_bytes(int fmt, int64_t n, int64_t k);
void capmoe_qdot_pack(int fmt, const uint8_t *src, int64_t row0, int64_t n, int64_t k, uint8_t *dst, int64_t p0, int64_t p1);
int capmoe_qdot_isa(int level);
void capmoe_qdot_gemm(int fmt, const uint8_t *w, int64_t k, const uint8_t *x, int64_t x0, int64_t xs, int64_t xbs, int64_t rows, int64_t j0, int64_t j1, float *y, int64_t y0, int64_t ys);
void ggml_cpu_init(void);
void quantize_row_q8_0(const float *x, void *y, int64_t k);
void quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_0_ref(const float *x, void *y, int64_t k);
void ggml_vec_dot_q8_0_q8_0(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy, size_t by, int nrc);
void ggml_vec_dot_q4_0_q8_0(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy, size_t by, int nrc);
void ggml_gemv_q4_0_8x8_q8_0(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);
typedef struct { uint16_t d[8]; uint8_t qs[128]; } q4x8;
static uint64_t st=88172645463325252ull; static double rnd(){ st^=st<<13; st^=st>>7; st^=st<<17; return (st>>11)*0x1p-53*2-1; }
int main(){
  ggml_cpu_init();
  long fails=0, checked=0;
  for(int trial=0; trial<40; trial++){
    int n = 8*(1+trial%9), k = 32*(1+(trial*7)%70), nb=k/32, rows=1+trial%5;
    float *wf=malloc(4*(size_t)n*k), *xf=malloc(4*(size_t)rows*k);
    for(size_t i=0;i<(size_t)n*k;i++) wf[i]=(float)(rnd()*0.1);
    for(size_t i=0;i<(size_t)rows*k;i++) xf[i]=(float)(rnd()*(trial%3==0?30:1));
    if(trial%4==1) for(int i=0;i<32;i++) xf[i]=0;      // an all-zero block
    for(int fmt=0; fmt<2; fmt++){
      int sb = fmt?18:34; uint8_t *wq=malloc((size_t)n*nb*sb);
      for(int j=0;j<n;j++) (fmt?quantize_row_q4_0_ref:quantize_row_q8_0_ref)(wf+(size_t)j*k, wq+(size_t)j*nb*sb, k);
      uint8_t *wp=aligned_alloc(64,(capmoe_qdot_bytes(fmt,n,k)+63)/64*64); capmoe_qdot_pack(fmt,wq,0,n,k,wp,0,(n+15)/16);
      // activations: ggml's own quantize_row_q8_0 (x86), then our 72-byte blocks from its bytes
      uint8_t *xg=malloc((size_t)rows*nb*34), *xc=malloc((size_t)rows*nb*72);
      for(int r=0;r<rows;r++){ quantize_row_q8_0(xf+(size_t)r*k, xg+(size_t)r*nb*34, k);
        for(int b=0;b<nb;b++){ uint8_t*g=xg+((size_t)r*nb+b)*34,*c=xc+((size_t)r*nb+b)*72; memcpy(c,g+2,32); int tot=0;
          for(int q=0;q<8;q++){int s=0; for(int t=0;t<4;t++) s+=(int8_t)g[2+4*q+t]; tot+=s; s*=-128; memcpy(c+32+4*q,&s,4);} tot*=-8; memcpy(c+64,&tot,4);
          uint16_t h; memcpy(&h,g,2); float d=_cvtsh_ss(h); memcpy(c+68,&d,4);} }
      float *y=malloc(4*(size_t)rows*n); 
      for(int isa=2; isa>=0; isa--){ capmoe_qdot_isa(isa); capmoe_qdot_gemm(fmt,wp,k,xc,0,nb*72,72,rows,0,n,y,0,n);
        for(int r=0;r<rows;r++){
          float ref[n];
          if(fmt==0){ for(int j=0;j<n;j++) ggml_vec_dot_q8_0_q8_0(k,&ref[j],0,wq+(size_t)j*nb*34,0,xg+(size_t)r*nb*34,0,1); }
          else { q4x8 *rp=malloc(sizeof(q4x8)*(n/8)*nb);
            for(int x=0;x<n/8;x++) for(int b=0;b<nb;b++){ q4x8 o; for(int i=0;i<8;i++) memcpy(&o.d[i], wq+((size_t)(8*x+i)*nb+b)*18, 2);
              for(int i=0;i<16;i++){ int src=i%8, so=(i/8)*8; uint64_t e; memcpy(&e, wq+((size_t)(8*x+src)*nb+b)*18+2+so, 8); e^=0x8888888888888888ULL; memcpy(&o.qs[i*8],&e,8);} rp[x*nb+b]=o; }
            ggml_gemv_q4_0_8x8_q8_0(k, ref, 0, rp, xg+(size_t)r*nb*34, 1, n); free(rp); }
          for(int j=0;j<n;j++){ checked++; if(memcmp(&ref[j],&y[(size_t)r*n+j],4)){ if(fails<8) printf("DIFF trial %d fmt %d isa %d r %d j %d: ggml %.9g capmoe %.9g\n",trial,fmt,isa,r,j,ref[j],y[(size_t)r*n+j]); fails++; } }
        } }
      free(wq);free(wp);free(xg);free(xc);free(y);
    }
    free(wf);free(xf);
  }
  static const char *names[] = {"portable C", "AVX2", "AVX-512 VNNI"};
  int best = capmoe_qdot_isa(2);
  printf("capmoe kernel paths run: %d (%s", best + 1, names[best]);
  for (int i = best - 1; i >= 0; i--) printf(", %s", names[i]);
  printf(")\noutputs compared with llama.cpp's kernels: %ld (Q8_0 and Q4_0, every path), different bits: %ld\n", checked, fails); return fails!=0;
}
