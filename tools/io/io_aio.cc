// qemu-io's asynchronous commands: aio_read, aio_write (completions print their own report,
// possibly during a later command) and the draining behind aio_flush and close.
#include "block/io_engine.h"
#include "tools/io/io_commands.h"
#include "tools/io/io_format.h"
#include "tools/io/io_request.h"

namespace corvid::io {

struct AioRequest {
  bool write = false;
  int64_t offset = 0, total = 0;
  Flags flags;
  std::unique_ptr<Buffer> buf;
  std::vector<iovec> iov;
  Stopwatch clock;
};

IoSession::IoSession() = default;
IoSession::~IoSession() = default;

namespace {

// Prints the outcome of a finished aio request, as qemu-io's completion callbacks do.
void aio_done(AioRequest& rq, const Result<>& r) {
  Elapsed t = rq.clock.elapsed();
  if (!r) {
    std::printf("%s failed: %s\n", rq.write ? "aio_write" : "readv", error_text(r.error()));
    return;
  }
  if (!rq.write) (void)verify_pattern(rq.buf->data(), rq.offset, rq.total, rq.flags.pattern);
  if (rq.flags.quiet) return;
  if (!rq.write && rq.flags.verbose) dump_buffer(rq.buf->data(), rq.offset, rq.total);
  print_report(rq.write ? "wrote" : "read", t, rq.offset, rq.total, rq.total, 1, rq.flags.csv);
}

int submit_aio(IoSession& s, std::unique_ptr<AioRequest> owned) {
  AioRequest* rq = owned.get();
  s.aio.push_back(std::move(owned));
  auto it = std::prev(s.aio.end());
  auto done = [&s, rq, it](Result<> r) {
    if (rq->write && rq->flags.fua && r) {
      s.device->flush([&s, rq, it](Result<> fr) {
        aio_done(*rq, fr);
        s.aio.erase(it);
      });
      return;
    }
    aio_done(*rq, r);
    s.aio.erase(it);
  };
  if (!rq->write) {
    s.device->read(rq->offset, rq->iov.data(), static_cast<int>(rq->iov.size()), done);
  } else if (rq->flags.zero) {
    s.device->write_zeroes(rq->offset, rq->total, rq->flags.unmap, done);
  } else {
    s.device->write(rq->offset, rq->iov.data(), static_cast<int>(rq->iov.size()), done);
  }
  if (auto* engine = s.device->io_engine()) engine->submit();
  return 0;
}

}  // namespace

int aio_read_cmd(IoSession& s, Args& a) {
  auto rq = std::make_unique<AioRequest>();
  if (int e = parse_flags(a, "aio_read", "CiP:qv", &rq->flags)) return e;
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("aio_read");
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &rq->offset, &lens, &rq->total)) return -EINVAL;
  // -i only exercises QEMU's accounting of invalid requests; nothing is submitted.
  if (rq->flags.invalid) return 0;
  rq->buf = std::make_unique<Buffer>(static_cast<size_t>(rq->total));
  rq->iov = split(*rq->buf, lens);
  return submit_aio(s, std::move(rq));
}

int aio_write_cmd(IoSession& s, Args& a) {
  auto rq = std::make_unique<AioRequest>();
  rq->write = true;
  if (int e = parse_flags(a, "aio_write", "CfiqP:uz", &rq->flags)) return e;
  if (optind > static_cast<int>(a.size()) - 2) return print_usage("aio_write");
  if (rq->flags.zero && rq->flags.pattern >= 0) {
    std::printf("-P and -z cannot be specified at the same time\n");
    return -EINVAL;
  }
  if (rq->flags.unmap && !rq->flags.zero) {
    std::printf("-u requires -z to be specified\n");
    return -EINVAL;
  }
  std::vector<int64_t> lens;
  if (!parse_vector(a, optind, &rq->offset, &lens, &rq->total)) return -EINVAL;
  if (rq->flags.invalid) return 0;
  int fill = rq->flags.pattern >= 0 ? rq->flags.pattern : 0xcd;
  rq->buf = std::make_unique<Buffer>(static_cast<size_t>(rq->total), fill);
  rq->iov = split(*rq->buf, lens);
  return submit_aio(s, std::move(rq));
}

void drain_aio(IoSession& s) {
  while (!s.aio.empty() && s.device) {
    auto* engine = s.device->io_engine();
    if (engine == nullptr) break;
    if (engine->poll(true) == 0 && engine->in_flight() == 0) break;
  }
}

}  // namespace corvid::io
