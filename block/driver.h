// What every driver offers beyond BlockDevice: the queries behind query_info/block_status and
// resize. open_image() returns ImageDriver objects; users see them as BlockDevice.
#pragma once

#include <memory>
#include <string>

#include "block/image.h"
#include "block/io_engine.h"

namespace corvid::block {

class ImageDriver : public BlockDevice {
 public:
  IoEngine* io_engine() override { return engine_; }
  const std::string& filename() const { return filename_; }

  virtual Result<BlockStatus> status(uint64_t offset, uint64_t length) = 0;
  virtual Result<ImageInfo> info() = 0;
  virtual Result<> resize(uint64_t new_size, bool shrink) = 0;
  // Blocking read that never runs engine callbacks: what copy-on-write uses to read a backing
  // file from inside a request.
  virtual Result<> pread_sync(uint64_t offset, void* buf, size_t len) = 0;
  // Index of the bottom-most layer of the chain (0 without a backing file).
  virtual int bottom_depth() const { return 0; }

 protected:
  ImageDriver(std::string filename, IoEngine* engine, std::unique_ptr<IoEngine> owned)
      : filename_(std::move(filename)), engine_(engine), owned_engine_(std::move(owned)) {}
  // Fails out-of-range requests with EIO before they reach a driver.
  bool in_range(uint64_t offset, uint64_t len) const {
    return offset <= size() && len <= size() - offset;
  }

  std::string filename_;
  IoEngine* engine_;
  std::unique_ptr<IoEngine> owned_engine_;  // declared last among engine users: destroyed last
};

Result<std::unique_ptr<ImageDriver>> open_raw(const std::string& path, const OpenOptions& options,
                                              IoEngine* engine, std::unique_ptr<IoEngine> owned);
Result<std::unique_ptr<ImageDriver>> open_qcow2(const std::string& path, const OpenOptions& options,
                                                IoEngine* engine, std::unique_ptr<IoEngine> owned);
Result<> create_raw(const std::string& path, const CreateOptions& options);
Result<> create_qcow2(const std::string& path, const CreateOptions& options);

}  // namespace corvid::block
