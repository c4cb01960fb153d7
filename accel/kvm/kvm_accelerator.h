// The KVM backend: a VM with an in-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT, guest RAM in
// memory slots, one vCPU per thread. PIO/MMIO exits are dispatched through the machine's IoBus.
#pragma once

#include <memory>

#include "accel/accelerator.h"

namespace corvid::accel {

// Opens options.kvm_device and creates the VM. Errors name what is missing and what to do:
// no device (module not loaded / nested virtualization off), EACCES (kvm group), an old API or a
// missing capability.
Result<std::unique_ptr<Accelerator>> create_kvm_accelerator(const AccelOptions& options);

}  // namespace corvid::accel
