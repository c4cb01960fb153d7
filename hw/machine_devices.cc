#include "hw/machine_devices.h"

#include "hw/machine_options.h"

namespace corvid::hw {

struct MachineDevices::State {};

MachineDevices::MachineDevices() = default;
MachineDevices::~MachineDevices() = default;
MachineDevices::MachineDevices(MachineDevices&&) noexcept = default;
MachineDevices& MachineDevices::operator=(MachineDevices&&) noexcept = default;

Result<> MachineDevices::build(const Context&, const MachineOptions& options) {
  if (!options.drives.empty() || options.virtio_rng || options.virtio_console)
    return make_error(ENOTSUP, "virtio devices are not available in this build yet");
  return {};
}

Result<std::vector<uint8_t>> MachineDevices::encode_device_tree(const fdt::MachineDescription&) {
  return std::vector<uint8_t>();
}

}  // namespace corvid::hw
