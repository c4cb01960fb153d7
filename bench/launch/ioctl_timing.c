/* LD_PRELOAD shim for bench/launch/launch_phases: times every KVM ioctl() and close() of the
 * process it is loaded into (no tracer, so the figures are those of an untraced run) and appends
 * one line of "name value" pairs to $LAUNCH_PHASES_OUT when the process exits. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static const struct {
  unsigned long request;
  const char* name;
} kTimed[] = {
    {KVM_CREATE_VM, "KVM_CREATE_VM"},
    {KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP"},
    {KVM_CREATE_PIT2, "KVM_CREATE_PIT2"},
    {KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION"},
    {KVM_CREATE_VCPU, "KVM_CREATE_VCPU"},
    {KVM_RUN, "KVM_RUN"},
};
#define NTIMED (sizeof kTimed / sizeof kTimed[0])

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double start, first_run = -1, last_run_end = -1, longest_close, cpuid_ms;
static double total[NTIMED];

__attribute__((constructor)) static void begin(void) { start = now_ms(); }

int ioctl(int fd, unsigned long request, ...) {
  static int (*real)(int, unsigned long, ...);
  if (!real) real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  const double a = now_ms();
  const int r = real(fd, request, arg);
  const double b = now_ms();
  pthread_mutex_lock(&lock);
  /* KVM_GET_SUPPORTED_CPUID's number encodes the caller's struct size: match type and nr. */
  if (_IOC_TYPE(request) == KVMIO && _IOC_NR(request) == 0x05) cpuid_ms += b - a;
  for (unsigned i = 0; i < NTIMED; ++i) {
    if (kTimed[i].request != request) continue;
    total[i] += b - a;
    if (request == KVM_RUN) {
      if (first_run < 0) first_run = a;
      last_run_end = b;
    }
  }
  pthread_mutex_unlock(&lock);
  return r;
}

int close(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
  const double a = now_ms();
  const int r = real(fd);
  const double d = now_ms() - a;
  pthread_mutex_lock(&lock);
  if (d > longest_close) longest_close = d;
  pthread_mutex_unlock(&lock);
  return r;
}

__attribute__((destructor)) static void end(void) {
  const char* path = getenv("LAUNCH_PHASES_OUT");
  FILE* f = path ? fopen(path, "a") : NULL;
  if (!f) return;
  const double t = now_ms();
  fprintf(f, "start->first_KVM_RUN %.3f guest(first_RUN..last_RUN_end) %.3f last_RUN_end->exit %.3f "
             "start->exit %.3f longest_close %.3f KVM_GET_SUPPORTED_CPUID %.3f",
          first_run - start, last_run_end - first_run, t - last_run_end, t - start, longest_close,
          cpuid_ms);
  for (unsigned i = 0; i < NTIMED; ++i) fprintf(f, " %s %.3f", kTimed[i].name, total[i]);
  fprintf(f, "\n");
  fclose(f);
}
