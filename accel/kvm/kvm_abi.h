// The KVM structures that end in a flexible array member. linux/kvm.h declares those arrays with
// __DECLARE_FLEX_ARRAY, which in C++ adds a one-byte empty struct: offsets and sizeof (and so the
// ioctl numbers, which encode sizeof) differ from the kernel's C layout. These are the C layouts
// and the ioctl numbers computed from them (include/uapi/linux/kvm.h,
// arch/x86/include/uapi/asm/kvm.h).
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace corvid::accel::kvm {

constexpr size_t kCpuid2Header = 8;   // struct kvm_cpuid2 { __u32 nent; __u32 padding; entries[] }
constexpr size_t kMsrListHeader = 4;  // struct kvm_msr_list { __u32 nmsrs; __u32 indices[] }
constexpr size_t kMsrsHeader = 8;     // struct kvm_msrs { __u32 nmsrs; __u32 pad; entries[] }

constexpr unsigned long kGetSupportedCpuid =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kCpuid2Header);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kCpuid2Header);
constexpr unsigned long kGetMsrIndexList =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, kMsrListHeader);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kMsrsHeader);

// A header of `header` bytes whose first u32 is the element count, followed by elements.
template <typename T>
std::vector<uint8_t> counted_buffer(size_t header, uint32_t count, const T* items = nullptr) {
  std::vector<uint8_t> buf(header + count * sizeof(T));
  std::memcpy(buf.data(), &count, sizeof count);
  if (items) std::memcpy(buf.data() + header, items, count * sizeof(T));
  return buf;
}

inline uint32_t buffer_count(const std::vector<uint8_t>& buf) {
  uint32_t n;
  std::memcpy(&n, buf.data(), sizeof n);
  return n;
}

template <typename T>
std::vector<T> buffer_items(const std::vector<uint8_t>& buf, size_t header) {
  std::vector<T> out(buffer_count(buf));
  std::memcpy(out.data(), buf.data() + header, out.size() * sizeof(T));
  return out;
}

}  // namespace corvid::accel::kvm
