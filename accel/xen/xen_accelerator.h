// The Xen backend. Probes for a Xen hypervisor with libxenctrl; the libxen headers stay inside
// accel/xen (they need GNU extensions and have no extern "C" guards).
#pragma once

#include <memory>

#include "accel/accelerator.h"

namespace corvid::accel {

// ENODEV with the reason when no Xen hypervisor is reachable from this host (the usual case: not a
// Xen dom0); ENOTSUP when one is, since HVM domain building is not implemented yet.
Result<std::unique_ptr<Accelerator>> create_xen_accelerator(const AccelOptions& options);

}  // namespace corvid::accel
