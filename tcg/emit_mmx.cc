// MMX instructions (SDM Vol. 1 ch. 9) and the SSE/SSE2/SSSE3 instructions with MMX operands:
// mm0-7 are the x87 registers' mantissas (physical register order), every MMX instruction enters
// MMX state (TOP = 0, all tags valid) and emms leaves it. Memory sources are loaded by the IR
// before the helper, memory destinations stored after it.
#include <immintrin.h>

#include <cstring>

#include "tcg/mmx.h"
#include "tcg/sse_common.h"
#include "tcg/x87_host.h"

namespace corvid::tcg {
namespace {

// helper_mmx's source selector (op.a): an MMX register 0..7, or:
constexpr uint32_t kSrcValue = 0xfd;  // the value in slot b (GPR or loaded memory)
constexpr uint32_t kSrcImm = 0xfe;    // imm2
constexpr uint8_t kPinsrw = 0xf0;     // cond: insert word imm2 & 3

int mm_of(ZydisRegister r) {
  if (r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7) return r - ZYDIS_REGISTER_MM0;
  return -1;
}

uint64_t source(Cpu& cpu, const Op& op) {
  if (op.a == kSrcValue) return slot(cpu, op.b);
  if (op.a == kSrcImm) return op.imm2 & 0xff;
  return mmx_get(cpu.s_, op.a);
}

// mm[d] = compute(cond, mm[d], source, imm)
void helper_mmx(Cpu& cpu, const Op& op) {
  mmx_enter(cpu, op);
  CpuState& s = cpu.s_;
  uint64_t b = source(cpu, op);
  if (op.cond == kPinsrw) {
    uint64_t v = mmx_get(s, op.d);
    unsigned sh = 16 * (op.imm2 & 3);
    v = (v & ~(0xffffull << sh)) | ((b & 0xffff) << sh);
    mmx_set(s, op.d, v);
    return;
  }
  uint8_t imm = static_cast<uint8_t>(op.imm2 >> 8);
  mmx_set(s, op.d, mmx_compute(static_cast<MmxOp>(op.cond), mmx_get(s, op.d), b, imm));
}

// slot d = value from mm[a]: cond 0 low dword, 1 quadword, 2 word imm2 (pextrw), 3 pmovmskb.
void helper_mmx_out(Cpu& cpu, const Op& op) {
  mmx_enter(cpu, op);
  uint64_t v = mmx_get(cpu.s_, op.a);
  switch (op.cond) {
    case 0:
      v &= 0xffffffffull;
      break;
    case 2:
      v = (v >> (16 * (op.imm2 & 3))) & 0xffff;
      break;
    case 3: {
      uint64_t m = 0;
      for (unsigned i = 0; i < 8; ++i) m |= ((v >> (8 * i + 7)) & 1) << i;
      v = m;
      break;
    }
    default:
      break;
  }
  slot(cpu, op.d) = v;
}

void helper_emms(Cpu& cpu, const Op& op) {
  const CpuState& s = cpu.s_;
  if (s.cr0 & kCr0Em) cpu.raise_no_error(kUd, &op);
  x87_check(cpu, op, true);
  cpu.s_.ftw = 0;
}

// movq2dq xmm[d] = mm[a] (cond 0); movdq2q mm[d] = xmm[a] low (cond 1).
void helper_movq2dq(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  mmx_enter(cpu, op);
  CpuState& s = cpu.s_;
  if (op.cond == 0) {
    uint64_t v = mmx_get(s, op.a);
    std::memset(s.xmm[op.d], 0, 16);
    std::memcpy(s.xmm[op.d], &v, 8);
  } else {
    uint64_t v;
    std::memcpy(&v, s.xmm[op.a], 8);
    mmx_set(s, op.d, v);
  }
}

// maskmovq mm[d], mm[a]: bytes of mm[d] whose mask byte has bit 7 set go to [slot b + i].
void helper_maskmovq(Cpu& cpu, const Op& op) {
  mmx_enter(cpu, op);
  uint64_t v = mmx_get(cpu.s_, op.d), mask = mmx_get(cpu.s_, op.a);
  uint64_t addr = slot(cpu, op.b);
  for (unsigned i = 0; i < 8; ++i) {
    if ((mask >> (8 * i + 7)) & 1) cpu.translate(addr + i, Cpu::Access::kWrite, false, &op);
  }
  for (unsigned i = 0; i < 8; ++i) {
    if ((mask >> (8 * i + 7)) & 1) store_sized(cpu, addr + i, 1, (v >> (8 * i)) & 0xff, &op);
  }
}

enum CvtKind : uint8_t { kPi2Ps, kPs2Pi, kTps2Pi, kPi2Pd, kPd2Pi, kTpd2Pi };

// The conversion on the host's SSE unit under the guest's MXCSR rounding mode with every
// exception masked; the flags it raised are returned in *flags.
__m128i convert_on_host(CvtKind k, __m128i v, uint32_t guest_mxcsr, uint32_t* flags) {
  uint32_t mx = (guest_mxcsr & ~0x3fu) | 0x1f80u, host;
  switch (k) {
    case kPi2Ps:
      __asm__ volatile("stmxcsr %1; ldmxcsr %2; cvtdq2ps %0, %0; stmxcsr %2; ldmxcsr %1"
                       : "+x"(v), "=m"(host), "+m"(mx));
      break;
    case kPs2Pi:
      __asm__ volatile("stmxcsr %1; ldmxcsr %2; cvtps2dq %0, %0; stmxcsr %2; ldmxcsr %1"
                       : "+x"(v), "=m"(host), "+m"(mx));
      break;
    case kTps2Pi:
      __asm__ volatile("stmxcsr %1; ldmxcsr %2; cvttps2dq %0, %0; stmxcsr %2; ldmxcsr %1"
                       : "+x"(v), "=m"(host), "+m"(mx));
      break;
    case kPi2Pd:
      __asm__ volatile("stmxcsr %1; ldmxcsr %2; cvtdq2pd %0, %0; stmxcsr %2; ldmxcsr %1"
                       : "+x"(v), "=m"(host), "+m"(mx));
      break;
    case kPd2Pi:
      __asm__ volatile("stmxcsr %1; ldmxcsr %2; cvtpd2dq %0, %0; stmxcsr %2; ldmxcsr %1"
                       : "+x"(v), "=m"(host), "+m"(mx));
      break;
    case kTpd2Pi:
      __asm__ volatile("stmxcsr %1; ldmxcsr %2; cvttpd2dq %0, %0; stmxcsr %2; ldmxcsr %1"
                       : "+x"(v), "=m"(host), "+m"(mx));
      break;
  }
  *flags = mx & 0x3f;
  return v;
}

// cvt{pi2ps,ps2pi,tps2pi,pi2pd,pd2pi,tpd2pi}: cond = CvtKind, d = destination register,
// a = source register or kSrcValue (memory loaded into slots b and c, low and high quadword).
void helper_mmx_cvt(Cpu& cpu, const Op& op) {
  check_sse(cpu, op);
  auto k = static_cast<CvtKind>(op.cond);
  bool from_mm = k == kPi2Ps || k == kPi2Pd;
  // Only an MMX register operand makes the transition to MMX state (SDM Vol. 1 §11.6.13)...
  if (!(from_mm && op.a == kSrcValue)) mmx_enter(cpu, op);
  CpuState& s = cpu.s_;
  alignas(16) uint8_t in[16] = {};
  if (op.a == kSrcValue) {
    uint64_t lo = slot(cpu, op.b), hi = slot(cpu, op.c);
    std::memcpy(in, &lo, 8);
    if (k == kPd2Pi || k == kTpd2Pi) std::memcpy(in + 8, &hi, 8);
  } else if (from_mm) {
    uint64_t v = mmx_get(s, op.a);
    std::memcpy(in, &v, 8);
  } else {
    std::memcpy(in, s.xmm[op.a], (k == kPd2Pi || k == kTpd2Pi) ? 16 : 8);
  }
  __m128i v;
  std::memcpy(&v, in, 16);
  uint32_t flags;
  v = convert_on_host(k, v, s.mxcsr, &flags);
  s.mxcsr |= flags;
  if (flags & ~(s.mxcsr >> 7) & 0x3f) {
    // An unmasked SIMD exception: #XM (or #UD without CR4.OSXMMEXCPT), destination unchanged.
    cpu.raise_no_error((s.cr4 & kCr4Osxmmexcpt) ? kXm : kUd, &op);
  }
  uint8_t out[16];
  std::memcpy(out, &v, 16);
  if (k == kPi2Ps)
    std::memcpy(s.xmm[op.d], out, 8);
  else if (k == kPi2Pd)
    std::memcpy(s.xmm[op.d], out, 16);
  else {
    uint64_t r;
    std::memcpy(&r, out, 8);
    mmx_set(s, op.d, r);
  }
}

struct Entry {
  ZydisMnemonic m;
  MmxOp op;
};
constexpr Entry kOps[] = {
    {ZYDIS_MNEMONIC_PADDB, kMmPaddb},       {ZYDIS_MNEMONIC_PADDW, kMmPaddw},
    {ZYDIS_MNEMONIC_PADDD, kMmPaddd},       {ZYDIS_MNEMONIC_PADDQ, kMmPaddq},
    {ZYDIS_MNEMONIC_PADDSB, kMmPaddsb},     {ZYDIS_MNEMONIC_PADDSW, kMmPaddsw},
    {ZYDIS_MNEMONIC_PADDUSB, kMmPaddusb},   {ZYDIS_MNEMONIC_PADDUSW, kMmPaddusw},
    {ZYDIS_MNEMONIC_PSUBB, kMmPsubb},       {ZYDIS_MNEMONIC_PSUBW, kMmPsubw},
    {ZYDIS_MNEMONIC_PSUBD, kMmPsubd},       {ZYDIS_MNEMONIC_PSUBQ, kMmPsubq},
    {ZYDIS_MNEMONIC_PSUBSB, kMmPsubsb},     {ZYDIS_MNEMONIC_PSUBSW, kMmPsubsw},
    {ZYDIS_MNEMONIC_PSUBUSB, kMmPsubusb},   {ZYDIS_MNEMONIC_PSUBUSW, kMmPsubusw},
    {ZYDIS_MNEMONIC_PMULLW, kMmPmullw},     {ZYDIS_MNEMONIC_PMULHW, kMmPmulhw},
    {ZYDIS_MNEMONIC_PMULHUW, kMmPmulhuw},   {ZYDIS_MNEMONIC_PMULUDQ, kMmPmuludq},
    {ZYDIS_MNEMONIC_PMADDWD, kMmPmaddwd},   {ZYDIS_MNEMONIC_PMULHRSW, kMmPmulhrsw},
    {ZYDIS_MNEMONIC_PMADDUBSW, kMmPmaddubsw}, {ZYDIS_MNEMONIC_PCMPEQB, kMmPcmpeqb},
    {ZYDIS_MNEMONIC_PCMPEQW, kMmPcmpeqw},   {ZYDIS_MNEMONIC_PCMPEQD, kMmPcmpeqd},
    {ZYDIS_MNEMONIC_PCMPGTB, kMmPcmpgtb},   {ZYDIS_MNEMONIC_PCMPGTW, kMmPcmpgtw},
    {ZYDIS_MNEMONIC_PCMPGTD, kMmPcmpgtd},   {ZYDIS_MNEMONIC_PACKSSWB, kMmPacksswb},
    {ZYDIS_MNEMONIC_PACKSSDW, kMmPackssdw}, {ZYDIS_MNEMONIC_PACKUSWB, kMmPackuswb},
    {ZYDIS_MNEMONIC_PUNPCKLBW, kMmPunpcklbw}, {ZYDIS_MNEMONIC_PUNPCKLWD, kMmPunpcklwd},
    {ZYDIS_MNEMONIC_PUNPCKLDQ, kMmPunpckldq}, {ZYDIS_MNEMONIC_PUNPCKHBW, kMmPunpckhbw},
    {ZYDIS_MNEMONIC_PUNPCKHWD, kMmPunpckhwd}, {ZYDIS_MNEMONIC_PUNPCKHDQ, kMmPunpckhdq},
    {ZYDIS_MNEMONIC_PAND, kMmPand},         {ZYDIS_MNEMONIC_PANDN, kMmPandn},
    {ZYDIS_MNEMONIC_POR, kMmPor},           {ZYDIS_MNEMONIC_PXOR, kMmPxor},
    {ZYDIS_MNEMONIC_PSLLW, kMmPsllw},       {ZYDIS_MNEMONIC_PSLLD, kMmPslld},
    {ZYDIS_MNEMONIC_PSLLQ, kMmPsllq},       {ZYDIS_MNEMONIC_PSRLW, kMmPsrlw},
    {ZYDIS_MNEMONIC_PSRLD, kMmPsrld},       {ZYDIS_MNEMONIC_PSRLQ, kMmPsrlq},
    {ZYDIS_MNEMONIC_PSRAW, kMmPsraw},       {ZYDIS_MNEMONIC_PSRAD, kMmPsrad},
    {ZYDIS_MNEMONIC_PSHUFW, kMmPshufw},     {ZYDIS_MNEMONIC_PMINUB, kMmPminub},
    {ZYDIS_MNEMONIC_PMAXUB, kMmPmaxub},     {ZYDIS_MNEMONIC_PMINSW, kMmPminsw},
    {ZYDIS_MNEMONIC_PMAXSW, kMmPmaxsw},     {ZYDIS_MNEMONIC_PAVGB, kMmPavgb},
    {ZYDIS_MNEMONIC_PAVGW, kMmPavgw},       {ZYDIS_MNEMONIC_PSADBW, kMmPsadbw},
    {ZYDIS_MNEMONIC_PSHUFB, kMmPshufb},     {ZYDIS_MNEMONIC_PHADDW, kMmPhaddw},
    {ZYDIS_MNEMONIC_PHADDD, kMmPhaddd},     {ZYDIS_MNEMONIC_PHADDSW, kMmPhaddsw},
    {ZYDIS_MNEMONIC_PHSUBW, kMmPhsubw},     {ZYDIS_MNEMONIC_PHSUBD, kMmPhsubd},
    {ZYDIS_MNEMONIC_PHSUBSW, kMmPhsubsw},   {ZYDIS_MNEMONIC_PSIGNB, kMmPsignb},
    {ZYDIS_MNEMONIC_PSIGNW, kMmPsignw},     {ZYDIS_MNEMONIC_PSIGND, kMmPsignd},
    {ZYDIS_MNEMONIC_PABSB, kMmPabsb},       {ZYDIS_MNEMONIC_PABSW, kMmPabsw},
    {ZYDIS_MNEMONIC_PABSD, kMmPabsd},       {ZYDIS_MNEMONIC_PALIGNR, kMmPalignr},
    {ZYDIS_MNEMONIC_MOVQ, kMmMov},          {ZYDIS_MNEMONIC_MOVD, kMmMov},
};

bool any_mm(const Emitter& e) {
  for (int i = 0; i < e.in.operand_count_visible; ++i) {
    if (e.is_reg(i) && mm_of(e.op[i].reg.value) >= 0) return true;
  }
  return false;
}

bool emit_cvt(Emitter& e, CvtKind k) {
  int d = k == kPi2Ps || k == kPi2Pd ? xmm_of(e.op[0].reg.value) : mm_of(e.op[0].reg.value);
  if (d < 0) return false;
  uint32_t a = kSrcValue, b = 0, c = 0;
  if (e.is_mem(1)) {
    uint32_t addr = e.ea(e.op[1]);
    b = e.load(addr, 8);
    if (k == kPd2Pi || k == kTpd2Pi) {
      // A 16-byte memory operand must be aligned (#GP otherwise).
      c = e.load(e.alu_nf(kAdd, addr, e.movi(8)), 8);
    }
  } else {
    int r = k == kPi2Ps || k == kPi2Pd ? mm_of(e.op[1].reg.value) : xmm_of(e.op[1].reg.value);
    if (r < 0) return false;
    a = static_cast<uint32_t>(r);
  }
  e.helper(helper_mmx_cvt, static_cast<uint32_t>(d), a, b, c);
  e.block.ops.back().cond = k;
  return true;
}

}  // namespace

uint64_t mmx_get(const CpuState& s, unsigned i) {
  uint64_t v;
  std::memcpy(&v, s.fpr[i], 8);
  return v;
}

void mmx_set(CpuState& s, unsigned i, uint64_t v) {
  std::memcpy(s.fpr[i], &v, 8);
  s.fpr[i][8] = s.fpr[i][9] = 0xff;
}

void mmx_enter(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  if (s.cr0 & kCr0Em) cpu.raise_no_error(kUd, &op);
  x87_check(cpu, op, true);
  x87_enter_mmx(s);
}

bool emit_mmx(Emitter& e) {
  const auto& in = e.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) return false;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_EMMS:
      e.helper(helper_emms);
      return true;
    case ZYDIS_MNEMONIC_CVTPI2PS:
      return emit_cvt(e, kPi2Ps);
    case ZYDIS_MNEMONIC_CVTPS2PI:
      return emit_cvt(e, kPs2Pi);
    case ZYDIS_MNEMONIC_CVTTPS2PI:
      return emit_cvt(e, kTps2Pi);
    case ZYDIS_MNEMONIC_CVTPI2PD:
      return emit_cvt(e, kPi2Pd);
    case ZYDIS_MNEMONIC_CVTPD2PI:
      return emit_cvt(e, kPd2Pi);
    case ZYDIS_MNEMONIC_CVTTPD2PI:
      return emit_cvt(e, kTpd2Pi);
    case ZYDIS_MNEMONIC_MOVQ2DQ:
      e.helper(helper_movq2dq, static_cast<uint32_t>(xmm_of(e.op[0].reg.value)),
               static_cast<uint32_t>(mm_of(e.op[1].reg.value)));
      e.block.ops.back().cond = 0;
      return true;
    case ZYDIS_MNEMONIC_MOVDQ2Q:
      e.helper(helper_movq2dq, static_cast<uint32_t>(mm_of(e.op[0].reg.value)),
               static_cast<uint32_t>(xmm_of(e.op[1].reg.value)));
      e.block.ops.back().cond = 1;
      return true;
    default:
      break;
  }
  if (!any_mm(e)) return false;
  int d = e.is_reg(0) ? mm_of(e.op[0].reg.value) : -1;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_MASKMOVQ: {
      // The destination is [rdi/edi/di] in DS (segment overrides apply): Zydis lists it as a
      // hidden memory operand.
      for (int i = in.operand_count_visible; i < in.operand_count; ++i) {
        if (e.op[i].type == ZYDIS_OPERAND_TYPE_MEMORY) {
          e.helper(helper_maskmovq, static_cast<uint32_t>(d),
                   static_cast<uint32_t>(mm_of(e.op[1].reg.value)), e.ea(e.op[i]));
          return true;
        }
      }
      return false;
    }
    case ZYDIS_MNEMONIC_PEXTRW:
    case ZYDIS_MNEMONIC_PMOVMSKB: {
      uint32_t t = e.temp();
      e.helper(helper_mmx_out, t, static_cast<uint32_t>(mm_of(e.op[1].reg.value)), 0, 0,
               in.mnemonic == ZYDIS_MNEMONIC_PEXTRW ? static_cast<int64_t>(e.op[2].imm.value.u) : 0);
      e.block.ops.back().cond = in.mnemonic == ZYDIS_MNEMONIC_PEXTRW ? 2 : 3;
      e.write(0, t, e.opsize(0));
      return true;
    }
    case ZYDIS_MNEMONIC_PINSRW: {
      if (d < 0) return false;
      uint32_t v = e.read(1, 2);
      e.helper(helper_mmx, static_cast<uint32_t>(d), kSrcValue, v, 0,
               static_cast<int64_t>(e.op[2].imm.value.u & 0xff));
      e.block.ops.back().cond = kPinsrw;
      return true;
    }
    case ZYDIS_MNEMONIC_MOVD:
    case ZYDIS_MNEMONIC_MOVQ:
    case ZYDIS_MNEMONIC_MOVNTQ:
      if (d < 0) {  // mm -> gpr or memory
        int s = mm_of(e.op[1].reg.value);
        if (s < 0) return false;
        unsigned size = e.opsize(0) >= 8 ? 8 : 4;
        e.probe_write(0);
        uint32_t t = e.temp();
        e.helper(helper_mmx_out, t, static_cast<uint32_t>(s));
        e.block.ops.back().cond = size == 8;
        e.write(0, t, size);
        return true;
      }
      break;
    default:
      break;
  }
  if (d < 0) return false;
  const Entry* entry = nullptr;
  for (const Entry& t : kOps) {
    if (t.m == in.mnemonic) {
      entry = &t;
      break;
    }
  }
  if (!entry) return false;
  uint64_t imm2 = 0;
  uint32_t a, b = 0;
  int last = in.operand_count_visible - 1;
  if (last >= 2 && e.is_imm(last)) imm2 = (e.op[last].imm.value.u & 0xff) << 8;  // pshufw, palignr
  if (e.is_imm(1)) {  // shift by immediate
    a = kSrcImm;
    imm2 = e.op[1].imm.value.u & 0xff;
  } else if (e.is_reg(1) && mm_of(e.op[1].reg.value) >= 0) {
    a = static_cast<uint32_t>(mm_of(e.op[1].reg.value));
  } else {
    // A memory operand or (movd/movq) a general-purpose register.
    unsigned size = e.opsize(1) >= 8 ? 8 : e.opsize(1);
    a = kSrcValue;
    b = e.read(1, size);
    if (size < 8 && e.is_reg(1)) b = e.extend(b, size, false);  // a GPR slot is the full register
  }
  e.helper(helper_mmx, static_cast<uint32_t>(d), a, b, 0, static_cast<int64_t>(imm2));
  e.block.ops.back().cond = entry->op;
  return true;
}

}  // namespace corvid::tcg
