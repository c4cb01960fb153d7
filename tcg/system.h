// System-level helpers the IR calls: segment loads and far transfers, interrupt return, fast
// system calls, CPUID and MSRs (tcg/ internal).
#pragma once

#include <cstdint>

#include "tcg/cpu.h"

namespace corvid::tcg {

// Reads the 8-byte descriptor for selector from the GDT/LDT; #GP(selector) beyond the limit.
uint64_t read_descriptor(Cpu& cpu, uint16_t selector, const Op* op);
Segment segment_from_descriptor(uint64_t desc, uint16_t selector);
// mov to a segment register (SDM Vol. 2 "MOV", protected-mode checks abridged).
void load_segment(Cpu& cpu, int seg, uint16_t selector, const Op* op);
// CS:RIP changes. `size` is the operand size of the instruction (2, 4 or 8).
void far_jump(Cpu& cpu, uint16_t selector, uint64_t offset, const Op* op);
void far_call(Cpu& cpu, uint16_t selector, uint64_t offset, unsigned size, uint64_t next_rip,
              const Op* op);
void far_return(Cpu& cpu, unsigned size, uint64_t pop_extra, const Op* op);
void interrupt_return(Cpu& cpu, unsigned size, const Op* op);
void do_syscall(Cpu& cpu, uint64_t next_rip, const Op* op);
void do_sysret(Cpu& cpu, unsigned size, const Op* op);
// Writes RFLAGS from popf/iret under the privilege rules (IOPL/IF/VM/VIP).
void write_rflags(Cpu& cpu, uint64_t value, uint64_t mask);

// verr/verw/lar/lsl (tcg/segment_checks.cc): op.cond 0..3, selector in a, old destination in b.
void helper_segment_check(Cpu& cpu, const Op& op);

void do_cpuid(Cpu& cpu);
// False when the MSR does not exist (the caller raises #GP(0)).
bool read_msr(Cpu& cpu, uint32_t index, uint64_t* value);
bool write_msr(Cpu& cpu, uint32_t index, uint64_t value);
// CR writes with their side effects (paging mode, TLB flush, long-mode activation).
void write_cr(Cpu& cpu, int cr, uint64_t value, const Op* op);
uint64_t read_cr(Cpu& cpu, int cr);

}  // namespace corvid::tcg
