// Commands whose block-layer support (block/snapshot.h, amend, backing-file changes) has not
// landed yet: they parse like qemu-img and then say plainly that the operation is unavailable.
#include "tools/img/img_common.h"

namespace corvid::img {
namespace {
int unavailable(const char* what) {
  report("{} is not supported yet by the corvid block layer", what);
  return 1;
}
}  // namespace

int cmd_amend(int, char**) {
  return unavailable("amend");
}
int cmd_rebase(int, char**) {
  return unavailable("rebase");
}
int cmd_snapshot(int, char**) {
  return unavailable("snapshot");
}
int cmd_commit(int, char**) {
  return unavailable("commit");
}

}  // namespace corvid::img
