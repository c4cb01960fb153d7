// String instructions with and without rep prefixes. One helper runs them element by element,
// updating rSI/rDI/rCX after each element so a fault in the middle leaves exactly the state the
// SDM describes for an interrupted rep ("the instruction restarts with the remaining count");
// rep stos and rep movs with DF=0 move whole in-page runs at once through host pointers.
#include <algorithm>
#include <cstring>

#include "tcg/softmmu_inline.h"
#include "tcg/translator.h"

namespace corvid::tcg {
namespace {

enum StrKind : uint8_t { kMovs, kStos, kLods, kCmps, kScas, kIns, kOuts };
constexpr uint64_t kRep = 1, kRepe = 2, kRepne = 4;

struct StrCtx {
  Cpu& cpu;
  const Op& op;
  uint64_t amask;
  unsigned esize;
  uint64_t src_base, dst_base;
  bool linear64;
  uint64_t lin(uint64_t base, uint64_t off) const {
    return linear64 ? base + off : (base + off) & 0xffffffffull;
  }
};

void set_reg_masked(uint64_t& r, uint64_t v, uint64_t amask) {
  r = amask == 0xffff ? (r & ~0xffffull) | (v & 0xffff) : v & amask;
}

template <typename T>
void fill(uint8_t* h, T v, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) std::memcpy(h + i * sizeof(T), &v, sizeof(T));
}

// Bulk path for rep stos / rep movs, DF=0: returns elements done (0: take the slow path).
uint64_t bulk(StrCtx& c, StrKind kind, uint64_t count) {
  CpuState& s = c.cpu.s_;
  uint64_t di = s.gpr[7] & c.amask;
  uint64_t dst = c.lin(c.dst_base, di);
  uint64_t room = (4096 - (dst & 0xfff)) / c.esize;
  if (room == 0) return 0;
  // 16/32-bit addressing: stop where rDI/rSI wrap, the element loop handles the wrap.
  if (c.amask != ~0ull) room = std::min(room, (c.amask - di + 1) / c.esize);
  uint64_t n = count < room ? count : room;
  if (n == 0) return 0;
  if (kind == kMovs) {
    uint64_t si = s.gpr[6] & c.amask;
    uint64_t src = c.lin(c.src_base, si);
    uint64_t sroom = (4096 - (src & 0xfff)) / c.esize;
    if (c.amask != ~0ull) sroom = std::min(sroom, (c.amask - si + 1) / c.esize);
    if (sroom == 0) return 0;
    if (sroom < n) n = sroom;
    uint8_t* hs = c.cpu.host_for_read(src, static_cast<unsigned>(n * c.esize), &c.op);
    uint8_t* hd = c.cpu.host_for_write(dst, static_cast<unsigned>(n * c.esize), &c.op);
    if (!hs || !hd) return 0;
    size_t bytes = n * c.esize;
    if (hd >= hs + bytes || hs >= hd + bytes || hd <= hs) {
      std::memmove(hd, hs, bytes);  // forward copy semantics hold when dst <= src or disjoint
    } else if (static_cast<size_t>(hd - hs) < c.esize) {
      return 0;  // overlap closer than one element: a byte copy would differ, go element-wise
    } else {
      for (size_t i = 0; i < bytes; ++i) hd[i] = hs[i];
    }
    set_reg_masked(s.gpr[6], (s.gpr[6] & c.amask) + bytes, c.amask);
  } else {
    uint8_t* hd = c.cpu.host_for_write(dst, static_cast<unsigned>(n * c.esize), &c.op);
    if (!hd) return 0;
    uint64_t v = s.gpr[0] & size_mask(c.esize);
    // A value whose bytes are all equal (zeroing: clear_page, memset) is one memset; otherwise
    // typed stores per width. A per-element memcpy of a runtime size compiled to one short
    // `rep movsq` per element and made helper_string the top boot symbol.
    if (v == (v & 0xff) * (size_mask(c.esize) / 0xff)) {
      std::memset(hd, static_cast<int>(v & 0xff), n * c.esize);
    } else {
      switch (c.esize) {
        case 2: fill(hd, static_cast<uint16_t>(v), n); break;
        case 4: fill(hd, static_cast<uint32_t>(v), n); break;
        default: fill(hd, v, n); break;
      }
    }
  }
  set_reg_masked(s.gpr[7], di + n * c.esize, c.amask);
  return n;
}

void helper_string(Cpu& cpu, const Op& op) {
  CpuState& s = cpu.s_;
  StrKind kind = static_cast<StrKind>(op.cond);
  unsigned asize = static_cast<unsigned>(op.imm2 >> 8);
  uint64_t amask = size_mask(asize);
  uint64_t rep = op.imm2 & 7;
  StrCtx c{cpu, op, amask, op.size, slot(cpu, op.b), slot(cpu, op.c), code64(s)};
  unsigned es = op.size;
  int64_t step = (s.rflags & kFlagDf) ? -static_cast<int64_t>(es) : es;
  uint64_t emask = size_mask(es);
  for (;;) {
    if (rep) {
      uint64_t count = s.gpr[1] & amask;
      if (count == 0) break;
      if ((kind == kStos || kind == kMovs) && step > 0) {
        uint64_t n = bulk(c, kind, count);
        if (n) {
          set_reg_masked(s.gpr[1], count - n, amask);
          continue;
        }
      }
    }
    uint64_t si = s.gpr[6] & amask, di = s.gpr[7] & amask;
    bool stop = false;
    switch (kind) {
      case kMovs: {
        uint64_t v = load_sized(cpu, c.lin(c.src_base, si), es, &op);
        store_sized(cpu, c.lin(c.dst_base, di), es, v, &op);
        set_reg_masked(s.gpr[6], si + step, amask);
        set_reg_masked(s.gpr[7], di + step, amask);
        break;
      }
      case kStos:
        store_sized(cpu, c.lin(c.dst_base, di), es, s.gpr[0], &op);
        set_reg_masked(s.gpr[7], di + step, amask);
        break;
      case kLods: {
        uint64_t v = load_sized(cpu, c.lin(c.src_base, si), es, &op);
        if (es == 4)
          s.gpr[0] = v;
        else if (es == 8)
          s.gpr[0] = v;
        else
          s.gpr[0] = (s.gpr[0] & ~emask) | v;
        set_reg_masked(s.gpr[6], si + step, amask);
        break;
      }
      case kCmps:
      case kScas: {
        uint64_t a =
            kind == kCmps ? load_sized(cpu, c.lin(c.src_base, si), es, &op) : s.gpr[0] & emask;
        uint64_t b = load_sized(cpu, c.lin(c.dst_base, di), es, &op);
        s.cc_dst = (a - b) & emask;
        s.cc_src = b;
        s.cc_op = make_cc_op(kCcSub, es);
        if (kind == kCmps) set_reg_masked(s.gpr[6], si + step, amask);
        set_reg_masked(s.gpr[7], di + step, amask);
        if ((rep & kRepe) && a != b) stop = true;
        if ((rep & kRepne) && a == b) stop = true;
        break;
      }
      case kIns: {
        uint64_t v = cpu.bus_.pio_read(static_cast<uint16_t>(s.gpr[2]), es);
        store_sized(cpu, c.lin(c.dst_base, di), es, v, &op);
        set_reg_masked(s.gpr[7], di + step, amask);
        break;
      }
      case kOuts: {
        uint64_t v = load_sized(cpu, c.lin(c.src_base, si), es, &op);
        cpu.bus_.pio_write(static_cast<uint16_t>(s.gpr[2]), es, v);
        set_reg_masked(s.gpr[6], si + step, amask);
        break;
      }
    }
    if (!rep) break;
    set_reg_masked(s.gpr[1], (s.gpr[1] & amask) - 1, amask);
    if (stop) break;
  }
}

}  // namespace

bool emit_string(Emitter& e) {
  const auto& in = e.in;
  StrKind kind;
  unsigned es;
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_MOVSB:
      kind = kMovs;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_MOVSW:
      kind = kMovs;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_MOVSD:
      if (in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;  // SSE2 movsd
      kind = kMovs;
      es = 4;
      break;
    case ZYDIS_MNEMONIC_MOVSQ:
      kind = kMovs;
      es = 8;
      break;
    case ZYDIS_MNEMONIC_STOSB:
      kind = kStos;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_STOSW:
      kind = kStos;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_STOSD:
      kind = kStos;
      es = 4;
      break;
    case ZYDIS_MNEMONIC_STOSQ:
      kind = kStos;
      es = 8;
      break;
    case ZYDIS_MNEMONIC_LODSB:
      kind = kLods;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_LODSW:
      kind = kLods;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_LODSD:
      kind = kLods;
      es = 4;
      break;
    case ZYDIS_MNEMONIC_LODSQ:
      kind = kLods;
      es = 8;
      break;
    case ZYDIS_MNEMONIC_CMPSB:
      kind = kCmps;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_CMPSW:
      kind = kCmps;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_CMPSD:
      if (in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;
      kind = kCmps;
      es = 4;
      break;
    case ZYDIS_MNEMONIC_CMPSQ:
      kind = kCmps;
      es = 8;
      break;
    case ZYDIS_MNEMONIC_SCASB:
      kind = kScas;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_SCASW:
      kind = kScas;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_SCASD:
      kind = kScas;
      es = 4;
      break;
    case ZYDIS_MNEMONIC_SCASQ:
      kind = kScas;
      es = 8;
      break;
    case ZYDIS_MNEMONIC_INSB:
      kind = kIns;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_INSW:
      kind = kIns;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_INSD:
      kind = kIns;
      es = 4;
      break;
    case ZYDIS_MNEMONIC_OUTSB:
      kind = kOuts;
      es = 1;
      break;
    case ZYDIS_MNEMONIC_OUTSW:
      kind = kOuts;
      es = 2;
      break;
    case ZYDIS_MNEMONIC_OUTSD:
      kind = kOuts;
      es = 4;
      break;
    default:
      return false;
  }
  uint64_t rep = 0;
  if (in.attributes & ZYDIS_ATTRIB_HAS_REP) rep = kRep;
  if (in.attributes & ZYDIS_ATTRIB_HAS_REPE)
    rep = (kind == kCmps || kind == kScas) ? (kRep | kRepe) : kRep;
  if (in.attributes & ZYDIS_ATTRIB_HAS_REPNE)
    rep = (kind == kCmps || kind == kScas) ? (kRep | kRepne) : kRep;
  // Source segment (overridable), destination always ES (SDM Vol. 1 §3.7.5).
  ZydisRegister src_seg = ZYDIS_REGISTER_DS;
  for (int i = 0; i < in.operand_count; ++i) {
    if (e.op[i].type == ZYDIS_OPERAND_TYPE_MEMORY && e.op[i].mem.base != ZYDIS_REGISTER_NONE) {
      int idx;
      unsigned sz;
      bool hi;
      if (gpr_of(e.op[i].mem.base, &idx, &sz, &hi) && idx == 6) src_seg = e.op[i].mem.segment;
    }
  }
  uint32_t src = e.seg_base_slot(src_seg);
  uint32_t dst = e.seg_base_slot(ZYDIS_REGISTER_ES);
  e.helper(helper_string, 0, 0, src ? src : kZeroSlot, dst ? dst : kZeroSlot,
           static_cast<int64_t>(rep | (e.asize() << 8)));
  e.block.ops.back().cond = kind;
  e.block.ops.back().size = static_cast<uint8_t>(es);
  return true;
}

}  // namespace corvid::tcg
