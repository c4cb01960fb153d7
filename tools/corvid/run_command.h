// `corvid run`: builds the machine from a VmConfig and runs it, rebooting on guest resets.
#pragma once

#include "tools/corvid/run_options.h"

namespace corvid::tools {

// Returns the process exit status: the guest's debug-exit value, 0 on power-off, 1 on errors.
int run_vm(const RunArgs& args);

}  // namespace corvid::tools
