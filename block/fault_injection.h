// Error injection for tests (issue 4 item 7): the Nth write request to an image file, be it
// a metadata write (ImageFile) or a data write through an engine wrapped by
// fault_injecting_engine(), fails with the chosen errno. Off unless a plan is installed.
#pragma once

#include <cstdint>
#include <memory>

#include "block/io_engine.h"

namespace corvid::block {

struct FaultPlan {
  int64_t fail_at = -1;  // index of the write request that fails (0-based); -1: never
  int error = 5;         // EIO
  bool sticky = false;   // every write from fail_at on fails (a full disk)
  int64_t writes = 0;    // counted so far
};

// Installs (or, with nullptr, removes) the process-wide plan. Not thread-safe: tests only.
void set_fault_plan(FaultPlan* plan);
// Counts one write request; returns the errno to fail it with, or 0.
int fault_for_write();

// Wraps an engine so its write requests (writev, fallocate) consult the plan.
std::unique_ptr<IoEngine> fault_injecting_engine(std::unique_ptr<IoEngine> inner);

}  // namespace corvid::block
