/*
 * The --dot reduced Q8_0/Q4_0 GEMM kernel alone (capmoe_qdot_gemm, the best path this CPU has) on one
 * shape, in the calling thread's CPU time (other load on a shared machine barely moves it), against the
 * vpdpbusd peak loop of machine_peak.c on the same thread; then the activation quantization of the
 * same rows. Run by scripts/qdot-kernel-bench ROWS N K [0 = Q8_0 | 1 = Q4_0].
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
int64_t capmoe_qdot_bytes(int fmt, int64_t n, int64_t k);
void capmoe_qdot_pack(int fmt, const uint8_t *src, int64_t row0, int64_t n, int64_t k, uint8_t *dst, int64_t p0, int64_t p1);
void capmoe_qdot_gemm(int fmt, const uint8_t *w, int64_t k, const uint8_t *x, int64_t x0, int64_t xs, int64_t xbs, int64_t rows, int64_t j0, int64_t j1, float *y, int64_t y0, int64_t ys);
void capmoe_qdot_quantize(const float *x, int64_t x0, int64_t xs, int64_t rows, int64_t k, uint8_t *out, int64_t o0, int64_t os, int64_t bs);
int64_t capmoe_peak_run(int kind, int level, int64_t iters, float *io);
static double cpu(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int rows=atoi(argv[1]), n=atoi(argv[2]), k=atoi(argv[3]), fmt=argc>4?atoi(argv[4]):0;
  int sb = fmt==0?34:18; uint8_t *src=malloc((size_t)n*k/32*sb); for(size_t i=0;i<(size_t)n*k/32*sb;i++) src[i]=rand();
  for(int j=0;j<n;j++) for(int b=0;b<k/32;b++){ uint16_t h=0x2000+(rand()&0xff); memcpy(src+((size_t)j*k/32+b)*sb,&h,2);}
  uint8_t *w=aligned_alloc(64,(capmoe_qdot_bytes(fmt,n,k)+63)/64*64); capmoe_qdot_pack(fmt,src,0,n,k,w,0,(n+15)/16);
  float *x=malloc(sizeof(float)*rows*k); for(int i=0;i<rows*k;i++) x[i]=(rand()%2000-1000)/100.f;
  int xs=k/32*72; uint8_t *xq=malloc((size_t)rows*xs); capmoe_qdot_quantize(x,0,k,rows,k,xq,0,xs,72);
  float *y=malloc(sizeof(float)*rows*n);
  double best=1e9; for(int r=0;r<20;r++){ double t=cpu(); for(int it=0;it<50;it++) capmoe_qdot_gemm(fmt,w,k,xq,0,xs,72,rows,0,n,y,0,n); t=(cpu()-t)/50; if(t<best)best=t;}
  float io[14]={1,2,3,4,5,6,7,8,9,10,11,12,1,1}; double pb=1e9; for(int r=0;r<5;r++){double t=cpu(); int64_t m=capmoe_peak_run(2,2,2000000,io); t=cpu()-t; if (t/m<pb) pb=t/m;}
  double macs=(double)rows*n*k; printf("fmt %d rows %d n %d k %d: %.1f GMAC/s, peak vpdpbusd %.1f GMAC/s -> %.0f%%\n",fmt,rows,n,k,macs/best/1e9,1/pb/1e9,100*(macs/best)*pb);
  double qb=1e9; for(int r=0;r<20;r++){double t=cpu(); for(int it=0;it<50;it++) capmoe_qdot_quantize(x,0,k,rows,k,xq,0,xs,72); t=(cpu()-t)/50; if(t<qb)qb=t;}
  printf("quantize: %.2f us for %d rows (%.1f%% of the gemm)\n", qb*1e6, rows, 100*qb/best);
}
