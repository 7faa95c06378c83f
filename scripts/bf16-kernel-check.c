/* The BF16 reduced kernels without Java, for a machine that has no JDK (the device): the AVX512_BF16 kernel
 * against the portable one bit for bit and against float64 of the bf16-rounded inputs on random ragged shapes
 * (ReducedMatMulTest's checks), then one thread's GFLOP/s (CPU time) on the grouped experts' calls.
 *   gcc -O2 -static -ffp-contract=off scripts/bf16-kernel-check.c capmoe-engine/src/main/c/bf16_dot.c -o bf16-check -lm && ./bf16-check */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <time.h>
int capmoe_bf16_isa(void);
int64_t capmoe_bf16_panel_elements(int k);
void capmoe_bf16_pack(const uint16_t *w, int n, int k, int p0, int p1, uint16_t *out);
void capmoe_bf16_gemm(int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels, int j0, int j1, float *y, int64_t y0, int ys);
void capmoe_bf16_gemm_portable(int order, const float *x, int64_t x0, int xs, int rows, int k, const uint16_t *panels, int j0, int j1, float *y, int64_t y0, int ys);
static double gauss(void){double u=(rand()+1.0)/(RAND_MAX+2.0),v=(rand()+1.0)/(RAND_MAX+2.0);return sqrt(-2*log(u))*cos(6.283185307*v);}
static uint16_t tobf(float f){uint32_t u;memcpy(&u,&f,4);return (uint16_t)((u+0x7fff+((u>>16)&1))>>16);}
static float bf(uint16_t h){uint32_t u=(uint32_t)h<<16;float f;memcpy(&f,&u,4);return f;}
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){
  printf("isa: %s\n", capmoe_bf16_isa()?"avx512bf16":"portable");
  long cells=0, differ=0, outside=0; double worst=0;
  srand(11);
  for(int trial=0;trial<200;trial++){
    int k=1+rand()%(trial%3?70:700), n=1+rand()%90, rows=1+rand()%40, P=(n+15)/16, order=trial%2;   /* order 1: tinyBLAS's, k % 32 == 0 */
    if(order) k=32*((k+31)/32);
    uint16_t *w=malloc((size_t)n*k*2), *p=aligned_alloc(64,(size_t)P*capmoe_bf16_panel_elements(k)*2);
    float *x=malloc(sizeof(float)*rows*k), *a=malloc(sizeof(float)*rows*n), *b=malloc(sizeof(float)*rows*n);
    for(int i=0;i<n*k;i++) w[i]=tobf((float)gauss());
    for(int i=0;i<rows*k;i++) x[i]=(float)(3*gauss());
    capmoe_bf16_pack(w,n,k,0,P,p);
    capmoe_bf16_gemm(order,x,0,k,rows,k,p,0,n,a,0,n); capmoe_bf16_gemm_portable(order,x,0,k,rows,k,p,0,n,b,0,n);
    for(int r=0;r<rows;r++) for(int j=0;j<n;j++){
      double ref=0,s=0; for(int c=0;c<k;c++){double t=(double)bf(tobf(x[r*k+c]))*bf(w[j*k+c]); ref+=t; s+=fabs(t);}
      double e=fabs(a[r*n+j]-ref); if(e>(k+1)*0x1p-24*s) outside++; if(s>0&&e/s>worst) worst=e/s;
      cells++; if(memcmp(&a[r*n+j],&b[r*n+j],4)) differ++;
    }
    free(w);free(p);free(x);free(a);free(b);
  }
  printf("cells %ld: avx512 vs portable differ in %ld; outside (K+1)2^-24 sum|xw|: %ld; worst err/sum|xw| %.3g\n",cells,differ,outside,worst);
  int E=16,rows=32,k=2048,n=1024,P=n/16; size_t pe=(size_t)P*capmoe_bf16_panel_elements(k);
  uint16_t *w=malloc((size_t)n*k*2); for(size_t i=0;i<(size_t)n*k;i++) w[i]=tobf((float)gauss());
  uint16_t **p=malloc(E*sizeof(*p)); for(int e=0;e<E;e++){p[e]=aligned_alloc(64,pe*2); capmoe_bf16_pack(w,n,k,0,P,p[e]);}
  float *x=malloc(sizeof(float)*rows*k); for(int i=0;i<rows*k;i++) x[i]=(float)gauss(); float *y=malloc(sizeof(float)*rows*n);
  for(int rep=0;rep<4;rep++){ int order=rep&1; double t0=cpu(); long fl=0; while(cpu()-t0<0.5){for(int e=0;e<E;e++) for(int j=0;j<n;j+=64){capmoe_bf16_gemm(order,x,0,k,rows,k,p[e],j,j+64,y,0,64); fl+=2L*rows*k*64;}}
    printf("1 thread, %s order, E=%d rows=%d k=%d n=%d tiles of 64: %.1f GFLOP/s of CPU time\n",order?"tinyBLAS":"vec_dot",E,rows,k,n,fl/(cpu()-t0)/1e9);}
  return 0;
}
