// virtio-rng (virtio 1.2 §5.4): fills the driver's buffers from getrandom(2).
#pragma once

#include <memory>

#include "base/result.h"
#include "virtio/device.h"

namespace corvid::virtio {

Result<std::unique_ptr<VirtioDevice>> make_virtio_rng(const DeviceServices& services);

}  // namespace corvid::virtio
