// A free list of per-request records, so steady-state I/O allocates nothing: records are
// recycled, and engine callbacks capture only {device, record} (small enough for
// std::function's inline storage).
#pragma once

#include <memory>
#include <vector>

namespace corvid::block {

template <typename T>
class RequestPool {
 public:
  T* get() {
    if (free_.empty()) {
      all_.push_back(std::make_unique<T>());
      return all_.back().get();
    }
    T* r = free_.back();
    free_.pop_back();
    return r;
  }
  // The caller resets what must not leak into the next request (buffers keep their capacity).
  void put(T* r) { free_.push_back(r); }

 private:
  std::vector<std::unique_ptr<T>> all_;
  std::vector<T*> free_;
};

}  // namespace corvid::block
