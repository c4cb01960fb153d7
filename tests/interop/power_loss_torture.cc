// Simulated power loss against qemu-img (issue 4 item 7): N cuts over raw, qcow2 and lazy
// qcow2 images (power_loss_run.h does the writing, the cut and corvid's own verification);
// after each cut and after the reopen qemu-img check must find no corruption and no check
// error. Leaks are allowed where QEMU's ordering leaves them too (refcounts durable before
// the L2/L1 entries that use them), never after the repair of a dirty lazy image.
//   power_loss_torture N [FIRST_SEED]
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "power_loss_run.h"

using namespace corvid::block;

namespace {

// The value of "key": N in qemu-img check's JSON (0 when absent).
long json_count(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::strtol(json.c_str() + at + key.size() + 3, nullptr, 10);
}

std::string qemu_img_check(const std::string& path, const std::string& stage, bool leaks_ok,
                           long* leaks) {
  std::string cmd = "qemu-img check --output=json '" + path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "cannot run qemu-img";
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  long corruptions = json_count(out, "corruptions"), errors = json_count(out, "check-errors");
  *leaks += json_count(out, "leaks");
  if (corruptions || errors || (rc != 0 && rc != 3) || (rc == 3 && !leaks_ok))
    return fmt::format("qemu-img check {} (exit {}):\n{}", stage, rc, out);
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: power_loss_torture N [FIRST_SEED]\n");
    return 2;
  }
  const int n = std::atoi(argv[1]);
  const uint64_t first = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 1;
  char dir[] = "/tmp/corvid-powerloss.XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 2;
  const std::string path = std::string(dir) + "/img";
  const testing::PowerLossConfig configs[] = {
      {"raw", "raw"}, {"qcow2", "qcow2", false}, {"qcow2_lazy", "qcow2", true}};
  long acked = 0, volatile_writes = 0, kept = 0, torn = 0, repaired = 0, leaks = 0;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    const auto& c = configs[i % 3];
    const uint64_t seed = first + static_cast<uint64_t>(i);
    // Cut points spread over the few hundred requests of a run (a few runs end uncut).
    const int64_t cut_at = static_cast<int64_t>((seed * 2654435761u) % 360);
    testing::ExtraCheck extra = [&](const std::string& stage, bool leaks_ok) {
      long ignored = 0;  // leaks found after the cut are found again after the reopen
      return qemu_img_check(path, stage, leaks_ok, stage == "after reopen" ? &leaks : &ignored);
    };
    auto r = testing::run_cut(c, path, seed, cut_at,
                              c.format == "qcow2" ? extra : testing::ExtraCheck{});
    if (!r.failure.empty()) {
      std::printf("FAIL %s seed %llu cut_at %lld: %s\n", c.name.c_str(),
                  static_cast<unsigned long long>(seed), static_cast<long long>(cut_at),
                  r.failure.c_str());
      if (++failures >= 5) break;
      continue;
    }
    acked += r.acked_writes;
    volatile_writes += r.stats.volatile_writes;
    kept += r.stats.kept;
    torn += r.stats.torn;
    repaired += r.dirty;
  }
  std::string rm = std::string("rm -rf '") + dir + "'";
  (void)!std::system(rm.c_str());
  std::printf(
      "power loss: %d cuts (raw, qcow2, lazy qcow2), %ld flushed writes verified; %ld unflushed "
      "writes at the cuts, %ld replayed (%ld torn); %ld dirty images repaired; qemu-img check: "
      "no errors, %ld leaked clusters\n",
      n, acked, volatile_writes, kept, torn, repaired, leaks);
  return failures ? 1 : 0;
}
