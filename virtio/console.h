// virtio-console (virtio 1.2 §5.3) with a single port and no multiport: receiveq carries bytes
// read from a host fd to the guest, transmitq carries the guest's bytes to another host fd.
#pragma once

#include <memory>

#include "base/result.h"
#include "virtio/device.h"

namespace corvid::virtio {

// The fds are not owned and must stay open while the device lives. in_fd < 0: no input.
// in_fd is switched to non-blocking mode (its flags are restored when the device goes); it is
// read only while the guest has buffers posted.
Result<std::unique_ptr<VirtioDevice>> make_virtio_console(const DeviceServices& services, int in_fd,
                                                          int out_fd);

}  // namespace corvid::virtio
