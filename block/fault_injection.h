// Error injection for tests (issue 4 item 7): an engine wrapper that fails the Nth request of
// a chosen kind (guest data write, metadata write, flush, or any of them) with the chosen
// errno, once or from then on (a full disk). Every write of a driver passes through its engine
// (block/image_file.h), so metadata writes are counted as well as data writes.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>

#include "block/io_engine.h"

namespace corvid::block {

enum class FaultTarget {
  kAnyWrite,       // data and metadata writes, truncates and hole punches
  kDataWrite,      // guest data (engine writes; qcow2's allocating-path data)
  kMetadataWrite,  // qcow2 tables, refcounts, header
  kFlush,          // fdatasync, queued or blocking
};

struct FaultPlan {
  FaultTarget target = FaultTarget::kAnyWrite;
  int64_t fail_at = -1;  // index among the target's requests (0-based); -1: never
  int error = EIO;
  bool sticky = false;   // every targeted request from fail_at on fails
  int64_t seen = 0;      // targeted requests counted so far
  int64_t injected = 0;  // requests failed
};

// Wraps an engine so its requests consult *plan (which must outlive the engine).
std::unique_ptr<IoEngine> fault_injecting_engine(std::unique_ptr<IoEngine> inner, FaultPlan* plan);

}  // namespace corvid::block
