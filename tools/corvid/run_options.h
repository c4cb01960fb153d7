// `corvid run` command line -> config::VmConfig, and VmConfig -> hw::MachineOptions.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "config/vm_config.h"
#include "hw/machine_options.h"

namespace corvid::tools {

struct RunArgs {
  config::VmConfig config;
  bool no_reboot = false;
  bool verbose = false;
  bool help = false;
  bool start_paused = false;  // -S: vCPUs wait for QMP "cont"
  std::string domain;         // --domain FILE.xml: the VM comes from a libvirt domain XML
  std::string dump_acpi;      // --dump-acpi DIR: write the ACPI tables there
};

// Parses the arguments after "run". Accepts "--opt VALUE" and "--opt=VALUE".
Result<RunArgs> parse_run_args(const std::vector<std::string>& args);
// --drive
// file=PATH[,format=raw|qcow2][,cache=..][,aio=..][,readonly=on|off][,if=virtio|mmio][,serial=S][,discard=unmap|ignore]
Result<config::DriveConfig> parse_drive(const std::string& spec);

hw::MachineOptions machine_options(const config::VmConfig& config);
// "stdio", "file:PATH", "socket:PATH", "none" for the board's CharBackend.
std::string serial_spec(const config::SerialConfig& serial);

void print_run_usage(FILE* out);

}  // namespace corvid::tools
