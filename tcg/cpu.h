// corvid's x86-64 system-mode CPU: decoder (Zydis) -> IR blocks cached by (guest physical address,
// mode) -> handler-chained interpreter, with a QEMU-style softmmu TLB and precise exceptions.
// tcg/ knows nothing of KVM, devices or buses: guest RAM, MMIO, port I/O and the interrupt
// controller reach it through the two narrow interfaces below, which accel/tcg implements.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tcg/cpu_state.h"
#include "tcg/ir.h"

namespace corvid::tcg {

class SystemBus {
 public:
  virtual ~SystemBus() = default;
  // Host pointer to the 4 KiB guest-physical page holding gpa when it is RAM, else nullptr.
  virtual uint8_t* ram_page(uint64_t gpa) = 0;
  virtual uint64_t mmio_read(uint64_t gpa, unsigned size) = 0;
  virtual void mmio_write(uint64_t gpa, unsigned size, uint64_t value) = 0;
  virtual uint64_t pio_read(uint16_t port, unsigned size) = 0;
  virtual void pio_write(uint16_t port, unsigned size, uint64_t value) = 0;
  // Guest TSC ticks (monotonic) and its frequency, reported through CPUID.
  virtual uint64_t tsc() = 0;
  virtual uint64_t tsc_hz() = 0;
  // vCPUs in the machine: CPUID's topology leaves describe them as cores of one package.
  virtual unsigned cpu_count() { return 1; }
};

class InterruptController {
 public:
  virtual ~InterruptController() = default;
  // True when a maskable interrupt is ready for this CPU (cheap: called at block boundaries).
  virtual bool has_interrupt() = 0;
  // Takes the highest-priority pending vector (moves it to in-service); -1 if none any more.
  virtual int acknowledge() = 0;
  // The xAPIC base MSR (IA32_APIC_BASE) belongs to the LAPIC.
  virtual uint64_t apic_base() = 0;
  virtual void set_apic_base(uint64_t value) = 0;
  // TSC-deadline MSR (IA32_TSC_DEADLINE, 0x6e0).
  virtual void set_tsc_deadline(uint64_t value) = 0;
  virtual uint64_t tsc_deadline() = 0;
  // CR8 is TPR[7:4] (SDM Vol. 3 §11.8.6): the LAPIC's TPR, or -1 when there is none (the CPU then
  // keeps CR8 itself).
  virtual int tpr() { return -1; }
  virtual void set_tpr(uint8_t) {}
};

enum class CpuExitReason { kHalt, kShutdown, kStop, kBudget, kInternalError };

struct CpuExit {
  CpuExitReason reason = CpuExitReason::kInternalError;
  std::string message;
};

struct TlbEntry {
  uint64_t read = 1, write = 1, code = 1;  // page vaddr | tag bits; kTlbInvalid when empty
  uintptr_t addend = 0;                    // host = vaddr + addend (RAM pages)
  uint64_t paddr = 0;                      // guest physical page
};
// Low tag bits: any of them makes the one-compare fast path fail (QEMU's TLB_* flags).
constexpr uint64_t kTlbInvalid = 1, kTlbMmio = 2, kTlbNotDirty = 4;
constexpr unsigned kTlbBits = 8, kTlbSize = 1u << kTlbBits;
constexpr unsigned kJumpCacheSize = 4096;

struct Statistics {
  uint64_t blocks_translated = 0, blocks_executed = 0, tlb_misses = 0, smc_invalidations = 0;
  uint64_t exceptions = 0, interrupts = 0;
  // Passes through the main loop (a block left without chaining), interrupt-controller polls,
  // whole-TLB flushes.
  uint64_t main_loops = 0, interrupt_polls = 0, tlb_flushes = 0;
};

class CodePages;

class Cpu {
 public:
  Cpu(SystemBus& bus, InterruptController* intc, int index);
  ~Cpu();
  Cpu(const Cpu&) = delete;
  Cpu& operator=(const Cpu&) = delete;

  CpuState& state() { return s_; }
  int index() const { return index_; }
  // Runs until HLT with nothing to wake it, shutdown, a stop request, or `budget` blocks.
  CpuExit run(uint64_t budget = ~0ull);
  // From any thread: makes run() look at interrupts / stop soon.
  void kick() { exit_request_.store(1, std::memory_order_release); }
  void request_stop() {
    stop_request_.store(true, std::memory_order_release);
    kick();
  }
  // From any thread: raises the NMI line (LAPIC NMI IPI, LINT NMI). One NMI stays pending while
  // NMIs are blocked; it is delivered through IDT vector 2 regardless of IF.
  void post_nmi() {
    nmi_pending_.store(true, std::memory_order_release);
    kick();
  }
  bool nmi_pending() const { return nmi_pending_.load(std::memory_order_acquire); }
  bool halted() const { return halted_; }
  void set_halted(bool h) { halted_ = h; }
  const Statistics& stats() const { return stats_; }
  // Guest profile: instructions executed per block start address (virtual), counted exactly
  // through each block's execution count. Costs one increment per block.
  std::unordered_map<uint64_t, uint64_t> profile();

  // Call after changing CR0/CR4/EFER/segments from outside the run loop.
  void state_changed();
  // Drops every TLB entry (and the jump cache, whose keys are virtual).
  void flush_tlb();
  // Drops every translated block.
  void flush_code();
  // Delivers a vector now (as if acknowledged from the interrupt controller): tests use it.
  void inject_interrupt(uint8_t vector);
  // Joins the machine-wide code-page record (tcg/code_pages.h) shared with the other vCPUs; until
  // then this CPU sees only its own stores to its code.
  void set_code_pages(CodePages* pages);
  // From any thread: another vCPU (or a device) wrote ppage (invalidate) or started translating
  // code there (protect: route this CPU's stores to it through the slow path). Handled at the next
  // block boundary.
  void post_code_event(uint64_t ppage, bool invalidate);

  // ---- used by the interpreter, translator and helpers (tcg/ internal) ----
  CpuState s_;
  SystemBus& bus_;
  InterruptController* intc_;
  Block* cur_block_ = nullptr;
  std::atomic<uint32_t> exit_request_{0};
  std::atomic<bool> stop_request_{false};
  std::atomic<bool> nmi_pending_{false};
  uint64_t budget_ = 0;
  // Chained blocks left before the main loop looks at timers and interrupts again (bounds the
  // latency of a timer that nothing kicks).
  uint32_t slice_ = 0;
  bool halted_ = false;
  bool shutdown_ = false;
  // Set by a store that hit the running block: finish the instruction then leave.
  bool smc_hit_ = false;
  Op smc_tail_[16];
  // A locked instruction's load: the value its store compares against, and the lazy flags to put
  // back when that compare fails and the instruction runs again (tcg/atomic.h).
  uint64_t ll_value_ = 0;
  std::array<uint64_t, 5> ll_flags_{};
  // The exit op the last block left through, so the main loop can chain it to its successor.
  const Op* link_from_ = nullptr;
  int link_slot_ = 0;
  unsigned mmu_index_ = 0;  // 0 supervisor, 1 user
  TlbEntry tlb_[2][kTlbSize];
  Block* jump_cache_[kJumpCacheSize] = {};
  Statistics stats_;

  uint32_t mode_bits() const;
  uint64_t rip_of(const Op* op) const { return cur_block_->vaddr + op->pc_off; }

  // Guest virtual memory (CPL-dependent access rights). Raise #PF/#GP as C++ exceptions caught
  // by run(); `op` locates the faulting instruction (nullptr outside a block).
  template <unsigned N>
  uint64_t load(uint64_t va, const Op* op);
  template <unsigned N>
  void store(uint64_t va, uint64_t v, const Op* op);
  uint64_t load_slow(uint64_t va, unsigned size, const Op* op, bool supervisor = false);
  void store_slow(uint64_t va, unsigned size, uint64_t v, const Op* op, bool supervisor = false);
  // Supervisor-mode (implicit) accesses: descriptor tables, TSS, interrupt stack frames.
  uint64_t load_sys(uint64_t va, unsigned size) { return load_slow(va, size, nullptr, true); }
  void store_sys(uint64_t va, unsigned size, uint64_t v) { store_slow(va, size, v, nullptr, true); }
  // Translates va for an access; fills the TLB. Returns the entry.
  enum class Access { kRead, kWrite, kExec };
  TlbEntry& tlb_fill(uint64_t va, Access access, bool supervisor, const Op* op);
  uint64_t translate(uint64_t va, Access access, bool supervisor, const Op* op);
  // A direct host pointer for [va, va+len) within one page when it is writable RAM without code,
  // else nullptr (the caller then goes element by element). Faults like a real access.
  uint8_t* host_for_write(uint64_t va, unsigned len, const Op* op);
  uint8_t* host_for_read(uint64_t va, unsigned len, const Op* op);

  [[noreturn]] void raise(uint8_t vector, uint32_t error_code, const Op* op);
  [[noreturn]] void raise_no_error(uint8_t vector, const Op* op);
  // Leaves the current block after the current instruction (mode changes, hlt, SMC).
  void set_cpl(unsigned cpl);
  void deliver(uint8_t vector, bool has_error, uint32_t error, bool software, uint64_t next_rip);

  // Block cache.
  Block* find_block();
  Block* lookup_link(uint64_t vaddr);
  void invalidate_code_page(uint64_t ppage);
  void protect_code_page(uint64_t ppage);
  void process_code_events();
  void collect_profile();
  std::unordered_map<uint64_t, uint64_t> profile_;
  // This CPU's store reached a page with code: drop ours and tell the other vCPUs.
  void code_page_written(uint64_t ppage);
  CodePages* code_pages_ = nullptr;
  std::mutex events_mutex_;
  std::vector<uint64_t> events_;  // page | 1 (invalidate) or page (protect)
  std::atomic<bool> has_events_{false};
  std::unordered_map<uint64_t, Block*> blocks_;                    // key: paddr ^ mode << 52
  std::unordered_map<uint64_t, std::vector<Block*>> page_blocks_;  // physical page -> blocks
  // Owns every block; invalidated ones stay (links may still name them) until flush_code().
  std::vector<std::unique_ptr<Block>> all_blocks_;
  Block* prev_block_ = nullptr;

 private:
  void execute_block(Block* block);
  void handle_fault(uint8_t vector, bool has_error, uint32_t error, uint64_t rip);
  void check_interrupts(bool kicked);
  static constexpr uint64_t kPollCycles = 100000;  // host TSC cycles between timer polls
  uint64_t next_poll_ = 0;
  bool if_was_set_ = false;
  int index_;
};

// Thrown inside the run loop only (never crosses the library boundary).
struct GuestFault {
  uint8_t vector;
  bool has_error;
  uint32_t error;
};

}  // namespace corvid::tcg
