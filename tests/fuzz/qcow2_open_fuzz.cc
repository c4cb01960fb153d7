// libFuzzer target: an image buffer is opened (format probed, read-only) and read, queried
// and mapped. Any crash, hang or sanitizer report is a bug: broken images must only produce
// errors.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "block/image.h"
#include "block/io_engine.h"
#include "block/sync_io.h"

using namespace corvid::block;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto engine = IoEngine::create(AioMode::kIoUring);
  if (!engine) return 0;
  int fd = memfd_create("fuzz-image", 0);
  if (fd < 0) return 0;
  if (size && ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return 0;
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  OpenOptions oo;
  oo.read_only = true;
  oo.no_backing = true;
  auto dev = open_image(path, oo, engine->get());
  if (dev) {
    std::vector<uint8_t> buf(65536);
    uint64_t end = std::min<uint64_t>((*dev)->size(), 4 << 20);
    for (uint64_t off = 0; off < end; off += buf.size())
      (void)read_sync(**dev, off, buf.data(), std::min<uint64_t>(buf.size(), end - off));
    (void)query_info(**dev, path);
    for (uint64_t off = 0, n = 0; off < end && n < 64; ++n) {
      auto st = block_status(**dev, off, end - off);
      if (!st || st->length == 0) break;
      off += st->length;
    }
    (void)(*dev)->close();
  }
  ::close(fd);
  return 0;
}
