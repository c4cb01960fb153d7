#include "virtio/rng.h"

#include <sys/random.h>

#include <cerrno>

namespace corvid::virtio {

namespace {

class RngDevice final : public VirtioDevice {
 public:
  Result<> start(const DeviceServices& services) { return init(services); }

  uint32_t device_id() const override { return 4; }
  std::string name() const override { return "rng"; }
  uint32_t pci_class() const override { return 0x00ff00; }
  uint64_t device_features() const override { return 0; }  // §5.4.3: none
  unsigned num_queues() const override { return 1; }       // §5.4.2: requestq
  uint32_t config_size() const override { return 0; }      // §5.4.4: none
  void read_config(uint32_t, uint8_t* data, uint32_t len) override {
    for (uint32_t i = 0; i < len; ++i) data[i] = 0;
  }

 protected:
  void process_queue(unsigned queue) override {
    Chain chain;
    while (pop(queue, &chain)) {
      // §5.4.6: the device writes random bytes into the device-writable buffers; a request
      // without any is returned with nothing written.
      uint64_t written = 0;
      for (const iovec& v : chain.in) {
        size_t done = 0;
        while (done < v.iov_len) {
          ssize_t n = getrandom(static_cast<uint8_t*>(v.iov_base) + done, v.iov_len - done, 0);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          done += static_cast<size_t>(n);
        }
        written += done;
        if (done < v.iov_len) break;
      }
      push(queue, chain.head, static_cast<uint32_t>(written));
    }
  }
};

}  // namespace

Result<std::unique_ptr<VirtioDevice>> make_virtio_rng(const DeviceServices& services) {
  auto dev = std::make_unique<RngDevice>();
  CORVID_TRY_VOID(dev->start(services));
  return std::unique_ptr<VirtioDevice>(std::move(dev));
}

}  // namespace corvid::virtio
