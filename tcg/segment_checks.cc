// VERR, VERW, LAR and LSL (SDM Vol. 2): they test a selector without faulting on it and answer
// in ZF. Linux's exit-to-user path runs `verw` to clear CPU buffers (the MDS mitigation, on for
// any Intel model that does not report MDS_NO), so an #UD here kills the first user process.
#include <algorithm>

#include "tcg/flags.h"
#include "tcg/system.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

// System descriptor types LAR (and, with kLimitTypes, LSL) accept (SDM Vol. 2 "LAR" Table 3-56
// and "LSL" Table 3-57): in IA-32e mode only LDT, the 64-bit TSS and (for LAR) the call gate.
bool system_type_ok(unsigned type, bool lar, bool long_mode) {
  if (long_mode) return type == 2 || type == 9 || type == 0xb || (lar && type == 0xc);
  switch (type) {
    case 1:
    case 2:
    case 3:
    case 9:
    case 0xb:
      return true;
    case 4:
    case 5:
    case 0xc:
      return lar;
    default:
      return false;
  }
}

}  // namespace

// op.cond: 0 verr, 1 verw, 2 lar, 3 lsl. a = selector; b = the destination's old value (lar/lsl),
// returned in d unchanged when ZF ends clear.
void helper_segment_check(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  // Not recognised in real mode (SDM: "#UD ... in real-address mode").
  if (!(s.cr0 & kCr0Pe)) cpu.raise_no_error(kUd, &op);
  uint16_t sel = static_cast<uint16_t>(slot(cpu, op.a));
  bool ok = false;
  uint64_t result = 0;
  bool ldt = sel & 4;
  uint64_t base = ldt ? s.ldtr.base : s.gdt_base;
  uint32_t limit = ldt ? s.ldtr.limit : s.gdt_limit;
  uint32_t off = sel & ~7u;
  if ((sel & ~3u) != 0 && off + 7 <= limit) {
    uint64_t d = cpu.load_sys(base + off, 8);
    bool system = !((d >> 44) & 1);
    unsigned type = (d >> 40) & 0xf;
    unsigned dpl = (d >> 45) & 3;
    bool code = !system && (type & 8);
    bool conforming = code && (type & 4);
    bool priv_ok = dpl >= std::max<unsigned>(s.cpl, sel & 3);
    switch (op.cond) {
      case 0:  // verr: data, or readable code; conforming code ignores the privilege check
        ok = !system && (!code || (type & 2)) && (conforming || priv_ok);
        break;
      case 1:  // verw: writable data only
        ok = !system && !code && (type & 2) && priv_ok;
        break;
      case 2:  // lar
        ok = system ? system_type_ok(type, true, long_mode_active(s)) && priv_ok
                    : conforming || priv_ok;
        result = (d >> 32) & 0x00f0ff00;
        break;
      default: {  // lsl
        ok = system ? system_type_ok(type, false, long_mode_active(s)) && priv_ok
                    : conforming || priv_ok;
        uint64_t lim = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
        if ((d >> 55) & 1) lim = (lim << 12) | 0xfff;
        result = lim;
        break;
      }
    }
  }
  uint64_t flags = compute_arith_flags(s) & ~kFlagZf;
  write_arith_flags(s, ok ? flags | kFlagZf : flags);
  if (op.cond >= 2) slot(cpu, op.d) = ok ? result : slot(cpu, op.b);
}

}  // namespace corvid::tcg
