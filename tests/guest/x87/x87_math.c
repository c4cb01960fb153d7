/* Float, double and long double math on the x87, compiled -m32 (gcc does every float operation on
 * the x87 there). Prints each result as its exact bits and as decimal text on COM1, then a hash of
 * everything printed, and exits through the debug-exit port 0xf4. The output is the same on any
 * x86 CPU and any correct emulator: basic arithmetic, square roots and conversions are exactly
 * rounded by IEEE 754; transcendental results are printed to 9 significant digits only (their last
 * bits legitimately differ between implementations). Ends with a few MMX operations on the same
 * registers. Entered from ../multiboot/start.S. */
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

static uint32_t hash = 2166136261u; /* FNV-1a over every character printed */

static void out(char c) {
  for (int i = 0; i < 100000 && !(inb(0x3f8 + 5) & 0x20); ++i) {
  }
  outb(0x3f8, (uint8_t)c);
  hash = (hash ^ (uint8_t)c) * 16777619u;
}
static void puts_s(const char* s) {
  while (*s) out(*s++);
}
static void put_hex(uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
}
/* v /= 10, returning the remainder, in 16-bit steps: -m32 has no 64-bit division without libgcc. */
static unsigned div10(uint64_t* v) {
  uint64_t q = 0;
  uint32_t r = 0;
  for (int shift = 48; shift >= 0; shift -= 16) {
    uint32_t cur = (r << 16) | (uint32_t)((*v >> shift) & 0xffff);
    q |= (uint64_t)(cur / 10) << shift;
    r = cur % 10;
  }
  *v = q;
  return r;
}
static void put_udec(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = (char)('0' + div10(&v));
  } while (v);
  while (n) out(buf[--n]);
}
static void put_sdec(int64_t v) {
  if (v < 0) {
    out('-');
    put_udec((uint64_t)0 - (uint64_t)v);
  } else {
    put_udec((uint64_t)v);
  }
}

/* Decimal text with `sig` significant digits: scaling by 10 and the final conversion are x87
 * operations themselves, each exactly rounded. */
static void put_dec(long double v, int sig) {
  if (v != v) {
    puts_s("nan");
    return;
  }
  if (v < 0) {
    out('-');
    v = -v;
  }
  if (v > 1e4930L) {
    puts_s("inf");
    return;
  }
  if (v == 0) {
    out('0');
    return;
  }
  int e = 0;
  while (v >= 10) {
    v /= 10;
    ++e;
  }
  while (v < 1) {
    v *= 10;
    --e;
  }
  int64_t scale = 1;
  for (int i = 1; i < sig; ++i) scale *= 10;
  uint64_t digits = (uint64_t)(int64_t)(v * (long double)scale + 0.5L);
  if (digits >= (uint64_t)scale * 10) {
    div10(&digits);
    ++e;
  }
  char buf[24];
  int n = 0;
  for (int i = 0; i < sig; ++i) buf[n++] = (char)('0' + div10(&digits));
  out(buf[--n]);
  out('.');
  while (n) out(buf[--n]);
  out('e');
  put_sdec(e);
}

static void show_f(const char* name, float v) {
  uint32_t bits;
  __builtin_memcpy(&bits, &v, 4);
  puts_s(name);
  puts_s(" = ");
  put_hex(bits, 8);
  puts_s(" ");
  put_dec(v, 8);
  puts_s("\n");
}
static void show_d(const char* name, double v) {
  uint64_t bits;
  __builtin_memcpy(&bits, &v, 8);
  puts_s(name);
  puts_s(" = ");
  put_hex(bits, 16);
  puts_s(" ");
  put_dec(v, 16);
  puts_s("\n");
}
static void show_ld(const char* name, long double v) {
  uint64_t mant;
  uint16_t se;
  __builtin_memcpy(&mant, &v, 8);
  __builtin_memcpy(&se, (char*)&v + 8, 2);
  puts_s(name);
  puts_s(" = ");
  put_hex(se, 4);
  out(':');
  put_hex(mant, 16);
  puts_s(" ");
  put_dec(v, 18);
  puts_s("\n");
}
static void show_approx(const char* name, long double v) {
  puts_s(name);
  puts_s(" ~ ");
  put_dec(v, 9);
  puts_s("\n");
}
static void show_i(const char* name, int64_t v) {
  puts_s(name);
  puts_s(" = ");
  put_sdec(v);
  puts_s("\n");
}

static uint16_t fstsw(void) {
  uint16_t sw;
  __asm__ volatile("fnstsw %0" : "=m"(sw));
  return sw;
}
static void fldcw(uint16_t cw) { __asm__ volatile("fldcw %0" ::"m"(cw)); }
static void fclex(void) { __asm__ volatile("fnclex"); }

/* The optimiser must not fold these: every operand comes through memory. */
static volatile double vd[8] = {1.0, 3.0, 0.1, 1e308, 2.2250738585072014e-308, -0.0, 7.0, 1e-5};
static volatile float vf[4] = {1.0f, 3.0f, 16777216.0f, 1e-30f};
static volatile long double vl[2] = {1.0L, 3.0L};

#define UNARY(name, insn)                                       \
  static long double name(long double x) {                      \
    __asm__ volatile(insn : "+t"(x));                           \
    return x;                                                   \
  }
UNARY(x_sin, "fsin")
UNARY(x_cos, "fcos")
UNARY(x_sqrt, "fsqrt")
UNARY(x_rndint, "frndint")
UNARY(x_f2xm1, "f2xm1")
UNARY(x_abs, "fabs")
UNARY(x_chs, "fchs")

/* a / b inside one asm statement, so that it runs under the control word set just before. */
static long double x_div(long double a, long double b) {
  long double r;
  __asm__ volatile("fdiv %%st(1), %%st" : "=t"(r) : "0"(a), "u"(b));
  return r;
}
static long double x_patan(long double y, long double x) {
  long double r;
  __asm__ volatile("fpatan" : "=t"(r) : "0"(x), "u"(y) : "st(1)");
  return r;
}
static long double x_yl2x(long double x, long double y) {
  long double r;
  __asm__ volatile("fyl2x" : "=t"(r) : "0"(x), "u"(y) : "st(1)");
  return r;
}
static long double x_scale(long double x, long double n) {
  long double r;
  __asm__ volatile("fscale" : "=t"(r) : "0"(x), "u"(n));
  return r;
}
static long double x_prem(long double x, long double y) {
  long double r;
  __asm__ volatile("1: fprem; fnstsw %%ax; testw $0x400, %%ax; jnz 1b" : "=t"(r) : "0"(x), "u"(y) : "ax");
  return r;
}
static long double x_tan(long double x) {
  long double one, r;
  __asm__ volatile("fptan" : "=t"(one), "=u"(r) : "0"(x));
  return r / one;
}
static uint16_t x_xam(long double x) {
  uint16_t sw;
  __asm__ volatile("fxam; fnstsw %0" : "=m"(sw) : "t"(x));
  return sw & 0x4700;
}
static long double konst(int which) {
  long double r;
  switch (which) {
    case 0: __asm__("fldpi" : "=t"(r)); break;
    case 1: __asm__("fldl2e" : "=t"(r)); break;
    case 2: __asm__("fldl2t" : "=t"(r)); break;
    case 3: __asm__("fldlg2" : "=t"(r)); break;
    default: __asm__("fldln2" : "=t"(r)); break;
  }
  return r;
}

/* MMX on the same registers: saturating adds, multiply-add, pack, then emms. Not inlined (and no
 * clobbers, which -mno-mmx rejects): at a call the x87 stack is empty by the ABI. */
static __attribute__((noinline)) void mmx_ops(void) {
  static volatile uint64_t mm_in[2] = {0x7ff0800000017fffull, 0x0020ff80fffe0002ull};
  uint64_t mm_out[3];
  __asm__ volatile(
      "movq %3, %%mm0\n"
      "movq %4, %%mm1\n"
      "movq %%mm0, %%mm2\n"
      "paddsw %%mm1, %%mm0\n"
      "pmaddwd %%mm1, %%mm2\n"
      "movq %%mm0, %0\n"
      "movq %%mm2, %1\n"
      "packsswb %%mm2, %%mm0\n"
      "psrlq $12, %%mm0\n"
      "movq %%mm0, %2\n"
      "emms"
      : "=m"(mm_out[0]), "=m"(mm_out[1]), "=m"(mm_out[2])
      : "m"(mm_in[0]), "m"(mm_in[1]));
  puts_s("mmx = ");
  for (int i = 0; i < 3; ++i) {
    put_hex(mm_out[i], 16);
    out(' ');
  }
  puts_s("\n");
}

void mb_main(uint32_t magic, const void* info, uint32_t cr0, uint32_t eflags) {
  (void)magic, (void)info, (void)cr0, (void)eflags;
  __asm__ volatile("fninit");
  puts_s("x87: start\n");

  /* Series and exactly rounded arithmetic in every format. */
  float hf = 0;
  for (int i = 1; i <= 2000; ++i) hf += vf[0] / (float)i;
  show_f("harmonic2000f", hf);
  double bd = 0;
  for (int i = 1; i <= 4000; ++i) bd += vd[0] / ((double)i * (double)i);
  show_d("basel4000", bd);
  double lp = 0;
  for (int i = 0; i < 4000; ++i) lp += (i & 1 ? -4.0 : 4.0) / (2 * i + 1);
  show_d("leibniz", lp);
  show_d("third", vd[0] / vd[1]);
  show_d("tenth*3", vd[2] * vd[1]);
  show_d("huge*10", vd[3] * 10);
  show_d("denormal", vd[4] / 3);
  show_d("negzero", vd[5] * vd[6]);
  show_f("float step", vf[2] + vf[0]);
  show_f("float tiny", vf[3] * vf[3]);
  show_ld("ld third", vl[0] / vl[1]);
  show_ld("sqrt2", x_sqrt(2.0L * vl[0]));
  show_d("sqrt(2) double", __builtin_sqrt(2.0 * vd[0]));

  /* Conversions (gcc: fnstcw/fldcw truncation around fistp). */
  show_i("(int)-2.7", (int)(-2.7 * vd[0]));
  show_i("(long long)1e18+0.5", (long long)(1e18 * vd[0] + 0.5));
  show_i("(int)2.5e9 clamps", (int)(2.5e9 * vd[0]));
  show_i("(unsigned)3e9", (unsigned)(3e9 * vd[0]));
  show_d("(double)int64", (double)(int64_t)(0x7fffffffffffffffll - (int64_t)vd[0]));

  /* Precision and rounding control. */
  static const char* rc_names[] = {"nearest", "down", "up", "zero"};
  for (int rc = 0; rc < 4; ++rc) {
    fldcw((uint16_t)(0x37f | rc << 10));
    long double r = x_rndint(-2.5L * vl[0]);
    long double q = x_div(vl[0], vl[1]);
    fldcw(0x37f);
    puts_s(rc_names[rc]);
    puts_s(": ");
    show_ld("rndint(-2.5)", r);
    show_ld("   1/3", q);
  }
  for (int pc = 0; pc < 4; pc += 2) {
    fldcw((uint16_t)(0x07f | pc << 8));
    long double q = x_div(vl[0], vl[1]);
    fldcw(0x37f);
    show_ld(pc ? "1/3 double precision" : "1/3 single precision", q);
  }

  /* Comparisons, NaN, infinities and the status word. */
  volatile double nan = vd[5] / vd[5] * 0;
  double inf = vd[3] * vd[3];
  fclex();
  volatile double z = vd[0] / (vd[5] * 1);
  uint16_t sw = fstsw();
  show_d("1/-0", z);
  show_i("status after 1/-0 & 0x3f", sw & 0x3f);
  show_i("nan<1", nan < vd[0]);
  show_i("nan==nan", nan == nan);
  show_i("nan!=nan", nan != nan);
  show_i("inf>huge", inf > vd[3]);
  show_i("-0==0", vd[5] == 0.0);
  show_i("xam nan", x_xam(nan));
  show_i("xam inf", x_xam(inf));
  show_i("xam -0", x_xam(vd[5]));
  show_i("xam denormal", x_xam((long double)vd[4] / 1e10L));
  show_i("xam 7", x_xam(vd[6]));
  fclex();

  /* Constants, scaling, remainders. */
  static const char* kn[] = {"pi", "l2e", "l2t", "lg2", "ln2"};
  for (int i = 0; i < 5; ++i) show_ld(kn[i], konst(i));
  show_ld("fscale(3,10)", x_scale(3.0L * vl[0], 10.0L));
  show_ld("fprem(1e10,7)", x_prem(1e10L * vl[0], 7.0L));
  show_ld("abs(chs(1/3))", x_abs(x_chs(vl[0] / vl[1])));

  /* Transcendentals (printed to 9 digits). */
  show_approx("sin(1)", x_sin(vl[0]));
  show_approx("cos(1)", x_cos(vl[0]));
  show_approx("tan(0.5)", x_tan(0.5L * vl[0]));
  show_approx("4*atan(1)", 4 * x_patan(vl[0], vl[0]));
  show_approx("2^0.5-1", x_f2xm1(0.5L * vl[0]));
  show_approx("log2(10)", x_yl2x(10.0L * vl[0], 1.0L));
  show_approx("sin(1000)", x_sin(1000.0L * vl[0]));

  /* Packed BCD. */
  uint8_t bcd[10];
  long double big = 123456789012345678.0L * vl[0];
  __asm__ volatile("fbstp %0" : "=m"(bcd) : "t"(big) : "st");
  puts_s("fbstp = ");
  for (int i = 9; i >= 0; --i) put_hex(bcd[i], 2);
  puts_s("\n");
  long double back;
  __asm__ volatile("fbld %1" : "=t"(back) : "m"(bcd));
  show_ld("fbld", back);


  mmx_ops();
  show_d("after emms", vd[0] / vd[6]);

  puts_s("x87: hash ");
  uint32_t h = hash;
  put_hex(h, 8);
  puts_s("\n");
  __asm__ volatile("outl %0, %1" ::"a"(0u), "Nd"((uint16_t)0xf4));
  for (;;) __asm__ volatile("cli; hlt");
}
