#include "virtio/console.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "base/endian.h"
#include "base/log.h"

namespace corvid::virtio {

namespace {

constexpr uint64_t kFeatureEmergWrite = 1ull << 2;         // §5.3.3
constexpr unsigned kReceiveQueue = 0, kTransmitQueue = 1;  // §5.3.2, port 0
constexpr uint32_t kConfigSize = 12;                       // cols, rows, max_nr_ports, emerg_wr
constexpr uint32_t kEmergWrOffset = 8;

void write_all(int fd, const uint8_t* p, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      LOG_WARN("virtio-console: output dropped: {}", n < 0 ? strerror(errno) : "short write");
      return;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

class ConsoleDevice final : public VirtioDevice {
 public:
  ConsoleDevice(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  ~ConsoleDevice() override {
    unwatch();
    // The fd's flags are shared with whoever else has it open (a shell's terminal): put them back.
    if (in_fd_ >= 0 && saved_flags_ >= 0) ::fcntl(in_fd_, F_SETFL, saved_flags_);
  }

  Result<> start(const DeviceServices& services) {
    CORVID_TRY_VOID(init(services));
    if (in_fd_ >= 0) {
      saved_flags_ = ::fcntl(in_fd_, F_GETFL);
      if (saved_flags_ >= 0) ::fcntl(in_fd_, F_SETFL, saved_flags_ | O_NONBLOCK);
    }
    return {};
  }

  uint32_t device_id() const override { return 3; }
  std::string name() const override { return "console"; }
  uint32_t pci_class() const override { return 0x078000; }  // simple communication, other
  uint64_t device_features() const override { return kFeatureEmergWrite; }
  unsigned num_queues() const override { return 2; }
  uint32_t config_size() const override { return kConfigSize; }

  void read_config(uint32_t offset, uint8_t* data, uint32_t len) override {
    // struct virtio_console_config (§5.3.4): no size, one port, emerg_wr reads as 0.
    uint8_t c[kConfigSize] = {};
    store_le32(c + 4, 1);
    for (uint32_t i = 0; i < len; ++i) data[i] = offset + i < kConfigSize ? c[offset + i] : 0;
  }

  void write_config(uint32_t offset, const uint8_t* data, uint32_t len) override {
    // §5.3.4: a write to emerg_wr outputs one character, even before the queues are set up.
    if (offset == kEmergWrOffset && len >= 1 && out_fd_ >= 0) write_all(out_fd_, data, 1);
  }

 protected:
  void process_queue(unsigned queue) override {
    if (queue == kTransmitQueue) {
      Chain chain;
      while (pop(queue, &chain)) {
        for (const iovec& v : chain.out) {
          if (out_fd_ >= 0) write_all(out_fd_, static_cast<const uint8_t*>(v.iov_base), v.iov_len);
        }
        push(queue, chain.head, 0);
      }
      return;
    }
    // The driver posted receive buffers: read input while there is some.
    if (in_fd_ < 0 || eof_) return;
    if (!watching_) {
      auto added = services().loop->add(in_fd_, [this](uint32_t) {
        std::lock_guard lock(mutex());
        receive();
      });
      if (added) {
        watching_ = true;
      } else if (added.error().code == EPERM) {
        receive();  // a regular file cannot be polled: it is always readable
      } else {
        LOG_WARN("virtio-console: cannot watch input: {}", added.error().to_string());
      }
    }
  }

  void on_reset() override { unwatch(); }

 private:
  void receive() {
    Chain chain;
    while (live() && !eof_) {
      if (!pop(kReceiveQueue, &chain)) {
        unwatch();  // no buffers: stop polling until the driver posts more
        return;
      }
      ssize_t n;
      do {
        n = ::readv(in_fd_, chain.in.data(), static_cast<int>(chain.in.size()));
      } while (n < 0 && errno == EINTR);
      if (n == 0 || (n < 0 && errno != EAGAIN)) eof_ = true;
      push(kReceiveQueue, chain.head, n > 0 ? static_cast<uint32_t>(n) : 0);
      if (n <= 0) break;
    }
    if (eof_ || !live()) unwatch();
  }

  void unwatch() {
    if (watching_) services().loop->remove(in_fd_);
    watching_ = false;
  }

  int in_fd_, out_fd_;
  int saved_flags_ = -1;
  bool watching_ = false;
  bool eof_ = false;
};

}  // namespace

Result<std::unique_ptr<VirtioDevice>> make_virtio_console(const DeviceServices& services, int in_fd,
                                                          int out_fd) {
  auto dev = std::make_unique<ConsoleDevice>(in_fd, out_fd);
  CORVID_TRY_VOID(dev->start(services));
  return std::unique_ptr<VirtioDevice>(std::move(dev));
}

}  // namespace corvid::virtio
