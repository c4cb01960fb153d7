/* sse_math: float/double math and -O2-vectorised loops over float, double and integer arrays,
 * compiled for SSE2 (the x86-64 baseline), so the translator's SSE/SSE2 instructions run as gcc
 * emits them for ordinary C: scalar single/double arithmetic, conversions, compares, packed
 * float and integer loops (addps/mulps/minps/cmpps/cvtdq2ps/cvttps2dq/pmullw/pmuludq/pavgb/
 * psadbw/pmaxsw/psrad/packs...), each MXCSR rounding mode. Prints every result's bit pattern
 * hash per section and an overall FNV-1a hash; the output must be identical under QEMU, KVM and
 * corvid's translator. */
#include "runtime/guest.h"

static uint32_t hash = 2166136261u;

static void mix32(uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    hash ^= (v >> (8 * i)) & 0xff;
    hash *= 16777619u;
  }
}
static uint32_t fbits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
static uint64_t dbits(double d) {
  uint64_t u;
  __builtin_memcpy(&u, &d, 8);
  return u;
}
static void mixf(float f) { mix32(fbits(f)); }
static void mixd(double d) {
  uint64_t u = dbits(d);
  mix32((uint32_t)u);
  mix32((uint32_t)(u >> 32));
}
static void section(const char* name) {
  printf_serial("%s: %08x\n", name, hash);
}

static void set_mxcsr(uint32_t v) { __asm__ volatile("ldmxcsr %0" ::"m"(v)); }
static uint32_t get_mxcsr(void) {
  uint32_t v;
  __asm__ volatile("stmxcsr %0" : "=m"(v));
  return v;
}

/* Values the compiler cannot fold: read through volatile. */
static volatile float vf[] = {1.0f, -2.5f, 0.1f, 3.0e38f, 1.0e-40f, -0.0f, 16777217.0f, 0.3333333f,
                              2147483520.0f, -7.75f, 1.5f, 2.5f};
static volatile double vd[] = {1.0, -2.5, 0.1, 1.0e308, 4.9e-324, -0.0, 9007199254740993.0,
                               1.0 / 3.0, 2147483647.5, -7.75, 1.5, 2.5};
#define NV (int)(sizeof vf / sizeof vf[0])

static void scalar_math(void) {
  for (int i = 0; i < NV; ++i) {
    for (int j = 0; j < NV; ++j) {
      float a = vf[i], b = vf[j];
      mixf(a + b);
      mixf(a - b);
      mixf(a * b);
      mixf(a / b);
      mixf(a < b ? a : b);
      mixf(a > b ? a : b);
      mix32((a < b) | (a == b) << 1 | (a >= b) << 2);
      double c = vd[i], d = vd[j];
      mixd(c + d);
      mixd(c * d);
      mixd(c / d);
      mixd((double)a * d);
      mixf((float)(c - d));
    }
    mixf(__builtin_sqrtf(vf[i] < 0 ? -vf[i] : vf[i]));
    mixd(__builtin_sqrt(vd[i] < 0 ? -vd[i] : vd[i]));
    float f = vf[i];
    double d = vd[i];
    mix32((uint32_t)(int)(f > 2e9f || f < -2e9f ? 0.0f : f));  /* cvttss2si */
    mix32((uint32_t)(long long)(d > 9e18 || d < -9e18 ? 0.0 : d));
    mixf((float)(int)(i * 123457 - 500000));                      /* cvtsi2ss */
    mixd((double)(long long)(i * 0x123456789ll));
    mixf((float)(unsigned long long)(0xfedcba9876543210ull >> i));
  }
  section("scalar");
}

static void rounding_modes(void) {
  static const uint32_t modes[] = {0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0};
  for (int m = 0; m < 5; ++m) {
    set_mxcsr(modes[m]);
    for (int i = 0; i < NV; ++i) {
      mixf(vf[i] / 3.0f);
      mixd(vd[i] / 3.0);
      mixf((float)vd[i]);
      mixf(vf[i] * 1.0e-38f);
      int r;
      __asm__ volatile("cvtss2si %1, %0" : "=r"(r) : "x"(vf[i] * 0.5f)); /* rounds per MXCSR */
      mix32((uint32_t)r);
    }
    /* Sticky flags of the whole pass, without DE: QEMU 7.2 (the reference) never sets the
     * denormal-operand flag, hardware and corvid do (SDM Vol. 1 §11.5.2.2). */
    mix32(get_mxcsr() & 0x3d);
    set_mxcsr(0x1f80);
  }
  section("rounding");
}

#define N 1024
/* Page-aligned: under nested KVM's shadow paging a store to a frame shared with the runtime's
 * page tables is emulated by KVM, whose emulator lacks most SSE forms. */
#define PAGE_ALIGNED __attribute__((aligned(4096)))
static float fa[N] PAGE_ALIGNED;
static float fb[N] PAGE_ALIGNED;
static float fc[N] PAGE_ALIGNED;
static double da[N] PAGE_ALIGNED;
static double db[N] PAGE_ALIGNED;
static int ia[N] PAGE_ALIGNED;
static int ib[N] PAGE_ALIGNED;
static int ic[N] PAGE_ALIGNED;
static short sa[N] PAGE_ALIGNED;
static short sb[N] PAGE_ALIGNED;
static short sc[N] PAGE_ALIGNED;
static unsigned char ua[N] PAGE_ALIGNED;
static unsigned char ub[N] PAGE_ALIGNED;
static unsigned char uc[N] PAGE_ALIGNED;

__attribute__((noinline)) static void vec_float(void) {
  for (int i = 0; i < N; ++i) fc[i] = fa[i] * fb[i] + fa[i] / (fb[i] + 1.0f);
  for (int i = 0; i < N; ++i) fc[i] = fc[i] < fa[i] ? fc[i] : fa[i];     /* minps */
  for (int i = 0; i < N; ++i) fb[i] = fa[i] > 0.5f ? fa[i] : -fb[i];     /* cmpps + blend */
  for (int i = 0; i < N; ++i) ic[i] = (int)fc[i];                        /* cvttps2dq */
  for (int i = 0; i < N; ++i) fa[i] = (float)ia[i] * 0.25f;              /* cvtdq2ps */
  for (int i = 0; i < N; ++i) da[i] = da[i] * db[i] - (double)fa[i];     /* cvtps2pd, mulpd */
  for (int i = 0; i < N; ++i) fb[i] = __builtin_sqrtf(fc[i] < 0 ? -fc[i] : fc[i]);
}

__attribute__((noinline)) static void vec_int(void) {
  for (int i = 0; i < N; ++i) ic[i] = ia[i] * ib[i] + (ia[i] >> 3);      /* pmuludq, psrad */
  for (int i = 0; i < N; ++i) sc[i] = (short)(sa[i] * sb[i]);            /* pmullw */
  for (int i = 0; i < N; ++i) sc[i] = sc[i] > sa[i] ? sc[i] : sa[i];     /* pmaxsw */
  for (int i = 0; i < N; ++i) uc[i] = (unsigned char)((ua[i] + ub[i] + 1) >> 1);  /* pavgb */
  for (int i = 0; i < N; ++i) {                                          /* paddusb */
    int s = ua[i] + ub[i];
    uc[i] = (unsigned char)(uc[i] ^ (s > 255 ? 255 : s));
  }
  for (int i = 0; i < N; ++i) sb[i] = (short)(((int)sa[i] * sb[i]) >> 16);  /* pmulhw */
  for (int i = 0; i < N; ++i) ib[i] = ia[i] == ic[i] ? 1 : ia[i] > ic[i] ? 2 : 3;
}

__attribute__((noinline)) static unsigned sad(void) {
  unsigned s = 0;
  for (int i = 0; i < N; ++i) s += ua[i] > ub[i] ? ua[i] - ub[i] : ub[i] - ua[i];  /* psadbw */
  return s;
}

__attribute__((noinline)) static float fsum(void) {
  float s = 0;
  for (int i = 0; i < N; ++i) s += fa[i] * fc[i];
  return s;
}

static void vectorised(void) {
  uint32_t x = 12345;
  for (int i = 0; i < N; ++i) {
    x = x * 1103515245u + 12345u;
    fa[i] = (float)(int)(x >> 8) / 65536.0f - 100.0f;
    fb[i] = (float)(int)(x & 0xffff) / 1024.0f - 8.0f;
    da[i] = (double)x / 3.0;
    db[i] = (double)(i - 500) * 0.125;
    ia[i] = (int)x;
    ib[i] = (int)(x >> 13) - 70000;
    sa[i] = (short)x;
    sb[i] = (short)(x >> 16);
    ua[i] = (unsigned char)(x >> 5);
    ub[i] = (unsigned char)(x >> 19);
  }
  vec_float();
  for (int i = 0; i < N; ++i) {
    mixf(fa[i]);
    mixf(fb[i]);
    mixf(fc[i]);
    mixd(da[i]);
    mix32((uint32_t)ic[i]);
  }
  section("vector float");
  vec_int();
  for (int i = 0; i < N; ++i) {
    mix32((uint32_t)ic[i]);
    mix32((uint32_t)ib[i]);
    mix32((uint16_t)sc[i] | (uint32_t)(uint16_t)sb[i] << 16);
    mix32(uc[i]);
  }
  mix32(sad());
  mixf(fsum());
  section("vector int");
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  scalar_math();
  rounding_modes();
  vectorised();
  printf_serial("sse: hash %08x\n", hash);
  return 0;
}
