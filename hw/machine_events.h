// How board devices end or restart the VM. The machine implements it: it records the first
// request and stops every vCPU.
#pragma once

namespace corvid::hw {

class MachineEvents {
 public:
  virtual ~MachineEvents() = default;
  virtual void request_power_off(int status) = 0;
  virtual void request_reset() = 0;
};

}  // namespace corvid::hw
