/* user_mode: the CPL0 <-> CPL3 transitions a Linux kernel uses, each checked from both sides:
 * iretq to CPL3; syscall/sysretq with swapgs and the kernel stack from the per-CPU area; int 0x80
 * through a DPL3 gate; #PF and #GP raised at CPL3 (frame CS/SS/RSP, error code with U, the switch
 * to TSS.RSP0); a LAPIC timer interrupt taken at CPL3; verr/verw/lar/lsl at CPL0 and CPL3. Every
 * way back to CPL3 runs `swapgs; verw` as Linux's does (the MDS buffer clear): a translator without
 * verw raised #UD there with the user's GS, which killed Linux's first user process.
 * Prints one line per check and exits with the number of failures. */
#include "runtime/guest.h"

struct um_frame {
  uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
  uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

struct gate {
  uint16_t lo, sel;
  uint8_t ist, attr;
  uint16_t mid;
  uint32_t hi, zero;
} __attribute__((packed));

/* gs:0 kernel stack top, gs:8 saved user RSP (syscall entry), gs:16 a marker telling whose GS is
 * live. */
struct percpu {
  uint64_t stack_top, user_rsp, marker;
};
#define KERNEL_MARK 0x4b45524e454c4753ull
#define USER_MARK 0x5553455247535553ull

extern char um_syscall_entry[], um_stub_64[], um_stub_128[], __image_end[];
#define STUB(n) extern char um_stub_##n[];
STUB(0)
STUB(1) STUB(2) STUB(3) STUB(4) STUB(5) STUB(6) STUB(7) STUB(8) STUB(9) STUB(10) STUB(11) STUB(12)
    STUB(13) STUB(14) STUB(15) STUB(16) STUB(17) STUB(18) STUB(19)
        STUB(20) static char* const stubs[21] = {
            um_stub_0,  um_stub_1,  um_stub_2,  um_stub_3,  um_stub_4,  um_stub_5,  um_stub_6,
            um_stub_7,  um_stub_8,  um_stub_9,  um_stub_10, um_stub_11, um_stub_12, um_stub_13,
            um_stub_14, um_stub_15, um_stub_16, um_stub_17, um_stub_18, um_stub_19, um_stub_20};
uint64_t um_enter_user(uint64_t rip, uint64_t rsp);

static struct gate idt[256] __attribute__((aligned(16)));
static uint64_t gdt[8] __attribute__((aligned(16)));
static uint8_t tss[104] __attribute__((aligned(16)));
static uint8_t kstack[16384] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));
static struct percpu kernel_percpu, user_percpu;

#define SUPERVISOR_PAGE 0x200000ull /* the second 2 MiB page: left without the U bit */

/* What the kernel side saw; user code may read it (the image is mapped for CPL3). */
struct trap_record {
  uint64_t vector, error, rip, cs, ss, rsp, cr2, handler_sp;
  int gs_kernel;
};
static volatile struct trap_record last;
static volatile int traps, unexpected, timer_ticks, syscalls, timer_cs;
static volatile int gs_kernel_in_syscall;
static volatile uint64_t pf_error, pf_cs;

/* What the user side saw. */
static volatile struct {
  uint16_t cs, ss, cs_after_syscall, ss_after_syscall;
  uint64_t gs_mark, gs_mark_after_syscall, rflags_after_syscall;
  uint64_t syscall_result, int80_result;
  int verw_user_ds, verw_kernel_ds, verr_user_code, lar_ok, lsl_ok, lsl_tss_denied;
  int spins;
} u;

static int failures;

static void check(int ok, const char* what) {
  printf_serial("%s: %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t gs_marker(void) {
  uint64_t v;
  __asm__ volatile("mov %%gs:16, %0" : "=r"(v));
  return v;
}
/* ZF of verr/verw on a selector. */
static inline int verw(uint16_t sel) {
  uint8_t z;
  __asm__ volatile("verw %1; setz %0" : "=q"(z) : "r"(sel) : "cc");
  return z;
}
static inline int verr(uint16_t sel) {
  uint8_t z;
  __asm__ volatile("verr %1; setz %0" : "=q"(z) : "r"(sel) : "cc");
  return z;
}
static inline int lar(uint16_t sel, uint32_t* out) {
  uint8_t z;
  uint32_t v = 0xdead;
  __asm__ volatile("lar %2, %1; setz %0" : "=q"(z), "+r"(v) : "r"((uint32_t)sel) : "cc");
  *out = v;
  return z;
}
static inline int lsl(uint16_t sel, uint32_t* out) {
  uint8_t z;
  uint32_t v = 0xdead;
  __asm__ volatile("lsl %2, %1; setz %0" : "=q"(z), "+r"(v) : "r"((uint32_t)sel) : "cc");
  *out = v;
  return z;
}

void um_trap(struct um_frame* f) {
  uint64_t sp;
  __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
  int gs_kernel = gs_marker() == KERNEL_MARK;
  if (f->vector == 64) {
    ++timer_ticks;
    timer_cs = (int)f->cs;
    lapic_eoi();
    return;
  }
  ++traps;
  last.vector = f->vector;
  last.error = f->error;
  last.rip = f->rip;
  last.cs = f->cs;
  last.ss = f->ss;
  last.rsp = f->rsp;
  last.handler_sp = sp;
  last.gs_kernel = gs_kernel;
  switch (f->vector) {
    case 14: {
      uint64_t cr2;
      __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
      last.cr2 = cr2;
      pf_error = f->error;
      pf_cs = f->cs;
      f->rip += 2; /* mov (%rax), %cl */
      break;
    }
    case 13:
      f->rip += 1; /* cli */
      break;
    case 128:
      f->rax += 1;
      break;
    default:
      ++unexpected;
      printf_serial("unexpected vector %lu at %lx (cs %lx)\n", (unsigned long)f->vector,
                    (unsigned long)f->rip, (unsigned long)f->cs);
      guest_exit(98);
  }
}

uint64_t um_syscall(uint64_t nr, uint64_t arg) {
  ++syscalls;
  gs_kernel_in_syscall = gs_marker() == KERNEL_MARK;
  return nr == 1 ? arg + 1 : (uint64_t)-1;
}

static inline uint64_t user_syscall(uint64_t nr, uint64_t arg) {
  uint64_t r = nr;
  __asm__ volatile("syscall"
                   : "+a"(r), "+D"(arg)
                   :
                   : "rcx", "r11", "rdx", "rsi", "r8", "r9", "r10", "memory");
  return r;
}

/* Runs at CPL3. Touches only its stack and `u` (and reads `traps`/`timer_ticks`). */
static void user_main(void) {
  __asm__ volatile("mov %%cs, %0" : "=r"(u.cs));
  __asm__ volatile("mov %%ss, %0" : "=r"(u.ss));
  u.gs_mark = gs_marker();
  u.verw_user_ds = verw(0x23);
  u.verw_kernel_ds = verw(0x10);
  u.verr_user_code = verr(0x2b);
  uint32_t v;
  u.lar_ok = lar(0x2b, &v) && v == 0x00a0fa00;
  u.lsl_ok = lsl(0x23, &v) && v == 0xffffffffu;
  u.lsl_tss_denied = !lsl(0x30, &v) && v == 0xdead;

  u.syscall_result = user_syscall(1, 41);
  uint64_t fl;
  __asm__ volatile("pushf; pop %0" : "=r"(fl));
  u.rflags_after_syscall = fl;
  __asm__ volatile("mov %%cs, %0" : "=r"(u.cs_after_syscall));
  __asm__ volatile("mov %%ss, %0" : "=r"(u.ss_after_syscall));
  u.gs_mark_after_syscall = gs_marker();

  uint64_t r = 7;
  __asm__ volatile("int $0x80" : "+a"(r)::"memory");
  u.int80_result = r;

  /* #PF: read a supervisor-only page (8a 08: mov (%rax), %cl). */
  __asm__ volatile("mov (%%rax), %%cl" ::"a"(SUPERVISOR_PAGE + 0x123) : "rcx", "memory");
  /* #GP(0): cli at CPL3 with IOPL 0. */
  __asm__ volatile("cli" ::: "memory");

  /* The LAPIC timer armed before entry fires while we spin here at CPL3. */
  for (u.spins = 0; !timer_ticks && u.spins < 50000000; ++u.spins) __asm__ volatile("pause");

  user_syscall(0, 0);
  for (;;) {
  }
}

static void set_gate(int v, void* stub, int dpl) {
  uint64_t a = (uint64_t)stub;
  idt[v] =
      (struct gate){(uint16_t)a,         0x08, 0, (uint8_t)(0x8e | (dpl << 5)), (uint16_t)(a >> 16),
                    (uint32_t)(a >> 32), 0};
}

static void setup(void) {
  gdt[1] = 0x00af9a000000ffffull; /* 0x08 kernel code64 */
  gdt[2] = 0x00cf92000000ffffull; /* 0x10 kernel data */
  gdt[3] = 0x00cffa000000ffffull; /* 0x18 user code32 (STAR's sysret base) */
  gdt[4] = 0x00cff2000000ffffull; /* 0x20 user data: sysret SS = 0x18 + 8 */
  gdt[5] = 0x00affa000000ffffull; /* 0x28 user code64: sysretq CS = 0x18 + 16 */
  uint64_t t = (uint64_t)tss;
  gdt[6] = (sizeof tss - 1) | ((t & 0xffffff) << 16) | (0x89ull << 40) | (((t >> 24) & 0xff) << 56);
  gdt[7] = t >> 32;
  uint64_t rsp0 = (uint64_t)(kstack + sizeof kstack);
  for (int i = 0; i < 8; ++i) tss[4 + i] = (uint8_t)(rsp0 >> (8 * i)); /* RSP0 */
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) g = {sizeof gdt - 1, (uint64_t)gdt};
  __asm__ volatile("lgdt %0\n\tltr %w1" ::"m"(g), "r"(0x30) : "memory");
  for (int i = 0; i < 21; ++i) set_gate(i, stubs[i], 0);
  set_gate(64, um_stub_64, 0);
  set_gate(128, um_stub_128, 3);
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) d = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(d));

  /* syscall: EFER.SCE, STAR, LSTAR, SFMASK = TF|DF|IF|AC|NT as Linux sets it. */
  wrmsr(0xc0000080, rdmsr(0xc0000080) | 1);
  wrmsr(0xc0000081, (0x18ull << 48) | (0x08ull << 32));
  wrmsr(0xc0000082, (uint64_t)um_syscall_entry);
  wrmsr(0xc0000084, 0x47700);
  kernel_percpu = (struct percpu){rsp0, 0, KERNEL_MARK};
  user_percpu = (struct percpu){0, 0, USER_MARK};
  wrmsr(0xc0000101, (uint64_t)&kernel_percpu); /* GS_BASE */
  wrmsr(0xc0000102, (uint64_t)&user_percpu);   /* KERNEL_GS_BASE: swapgs brings it in */

  /* The image's 2 MiB page becomes user-accessible (U at every level); the next stays
   * supervisor-only. */
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  uint64_t* pml4 = (uint64_t*)(cr3 & ~0xfffull);
  uint64_t* pdpt = (uint64_t*)(pml4[0] & ~0xfffull);
  uint64_t* pd0 = (uint64_t*)(pdpt[0] & ~0xfffull);
  pml4[0] |= 4;
  pdpt[0] |= 4;
  pd0[0] |= 4;
  __asm__ volatile("mov %0, %%cr3" ::"r"(cr3) : "memory");
}

int guest_main(struct hvm_start_info* info) {
  (void)info;
  serial_init();
  if ((uint64_t)__image_end > SUPERVISOR_PAGE) {
    puts_serial("user_mode: the image does not fit in the first 2 MiB\n");
    return 97;
  }
  setup();

  /* Kernel-side segment checks (CPL0). */
  uint32_t v;
  check(verw(0x10) && verw(0x23) && !verw(0x08) && !verw(0x2b) && !verw(0) && !verw(0x80),
        "verw at CPL0");
  check(verr(0x08) && verr(0x10) && !verr(0x30) && !verr(0x80), "verr at CPL0");
  check(lsl(0x30, &v) && v == sizeof tss - 1, "lsl of the TSS at CPL0");
  check(lar(0x30, &v) && (v & 0x00ffff00) == 0x00008b00, "lar of the busy TSS at CPL0");

  lapic_enable();
  lapic_write(0x3e0, 0xb);     /* divide by 1 */
  lapic_write(0x320, 64);      /* one-shot, vector 64 */
  lapic_write(0x380, 2000000); /* ~2 ms at 1 GHz */
  uint64_t status = um_enter_user((uint64_t)user_main, (uint64_t)(ustack + sizeof ustack));
  lapic_write(0x380, 0);

  check(status == 0, "iretq to CPL3 and back through syscall 0");
  check(u.cs == 0x2b && u.ss == 0x23, "CPL3 selectors after iretq");
  check(u.gs_mark == USER_MARK, "user GS after swapgs; iretq");
  check(u.verw_user_ds && !u.verw_kernel_ds && u.verr_user_code, "verw/verr at CPL3");
  check(u.lar_ok && u.lsl_ok && u.lsl_tss_denied, "lar/lsl at CPL3");
  check(syscalls == 1 && u.syscall_result == 42 && gs_kernel_in_syscall,
        "syscall runs with the kernel GS");
  check(u.cs_after_syscall == 0x2b && u.ss_after_syscall == 0x23 &&
            u.gs_mark_after_syscall == USER_MARK && (u.rflags_after_syscall & 0x200),
        "sysretq restores CS/SS, RFLAGS.IF and the user GS");
  check(u.int80_result == 8, "int 0x80 through a DPL3 gate");
  printf_serial("  traps %d, last vector %lu error %lx cs %lx ss %lx cr2 %lx\n", traps,
                (unsigned long)last.vector, (unsigned long)last.error, (unsigned long)last.cs,
                (unsigned long)last.ss, (unsigned long)last.cr2);
  check(traps == 3 && last.vector == 13 && last.error == 0 && last.cs == 0x2b && last.ss == 0x23 &&
            last.gs_kernel,
        "#GP at CPL3: frame and kernel GS");
  check(last.handler_sp > (uint64_t)kstack && last.handler_sp < (uint64_t)kstack + sizeof kstack &&
            last.rsp > (uint64_t)ustack && last.rsp <= (uint64_t)ustack + sizeof ustack,
        "exception from CPL3 switches to TSS.RSP0");
  check(last.cr2 == SUPERVISOR_PAGE + 0x123 && pf_error == 5 && pf_cs == 0x2b,
        "#PF at CPL3 on a supervisor page: error P|U, CR2");
  check(timer_ticks == 1 && timer_cs == 0x2b, "LAPIC timer interrupt taken at CPL3");
  check(unexpected == 0, "no unexpected exceptions");
  printf_serial("user_mode: %d failures\n", failures);
  return failures;
}
