// A small AML (ACPI Machine Language) encoder: just what corvid's DSDT needs. Each function
// returns the bytes of one term; containers (scope, device, method, package, if) take the bytes
// of their contents and add the PkgLength. Encodings follow ACPI 6.5, chapter 20 ("ACPI Machine
// Language Specification") and 6.4 ("Resource Data Types for ACPI").
//
// Names come from corvid's own code, never from a guest or a file: a name segment is up to four
// characters of [A-Z0-9_] (padded with '_'); any other character is encoded as '_' so that a
// mistake yields a wrong name, never malformed AML (the unit tests pin every name we use).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace corvid::hw::acpi::aml {

using Bytes = std::vector<uint8_t>;

Bytes concat(std::initializer_list<Bytes> parts);

// Data objects (20.2.3).
Bytes integer(uint64_t value);  // Zero, One, Ones or the smallest Byte/Word/DWord/QWord const
Bytes dword(uint32_t value);    // always a DWordConst
Bytes string(std::string_view s);
Bytes eisa_id(std::string_view id);  // "PNP0A03" -> compressed EISA ID (6.1.5), as a DWordConst
Bytes package(const std::vector<Bytes>& elements);
Bytes buffer(const Bytes& data);

// Names (20.2.2): "\\_SB.PCI0", "_HID", "^PWRB".
Bytes name_string(std::string_view path);

// Named objects and namespace modifiers (20.2.5).
Bytes name(std::string_view n, const Bytes& value);
Bytes scope(std::string_view path, const Bytes& body);
Bytes device(std::string_view n, const Bytes& body);
Bytes method(std::string_view n, unsigned args, bool serialized, const Bytes& body);

enum class RegionSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
Bytes operation_region(std::string_view n, RegionSpace space, uint64_t offset, uint64_t length);
struct FieldUnit {
  std::string_view name;  // empty = reserved bits (an offset skip)
  uint32_t bits;
};
// Access type DWordAcc (3), NoLock, update rule WriteAsZeros: the event and control registers
// corvid exposes are whole 32-bit registers.
Bytes field_dword(std::string_view region, const std::vector<FieldUnit>& units);

// Statements and expressions (20.2.5.3, 20.2.5.4).
Bytes local(unsigned n);  // Local0..Local7
Bytes arg(unsigned n);    // Arg0..Arg6
Bytes store(const Bytes& source, const Bytes& target);
Bytes and_(const Bytes& a, const Bytes& b);  // And(a, b) without a target
Bytes lequal(const Bytes& a, const Bytes& b);
Bytes if_(const Bytes& predicate, const Bytes& body);
Bytes notify(std::string_view object, const Bytes& value);
Bytes return_(const Bytes& value);

// A resource template (6.4): descriptors appended in order, then build() wraps them in a Buffer
// with the End Tag.
class ResourceTemplate {
 public:
  ResourceTemplate& io(uint16_t base, uint8_t length);  // IO (Decode16, fixed range)
  ResourceTemplate& irq_no_flags(uint8_t irq);          // ISA IRQ, edge, active high
  ResourceTemplate& memory32_fixed(uint32_t base, uint32_t length);
  // Extended Interrupt descriptor, consumer.
  ResourceTemplate& interrupt(uint32_t gsi, bool level, bool active_low, bool shared = false);
  // Address space windows a bridge produces (Word/DWord/QWord Address Space Descriptors).
  ResourceTemplate& bus_numbers(uint16_t first, uint16_t last);
  ResourceTemplate& io_window(uint16_t first, uint16_t last);
  ResourceTemplate& memory32_window(uint32_t first, uint32_t last);
  ResourceTemplate& memory64_window(uint64_t first, uint64_t last);
  Bytes build() const;

 private:
  Bytes bytes_;
};

}  // namespace corvid::hw::acpi::aml
