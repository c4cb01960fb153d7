#include "block/driver.h"
namespace corvid::block {
Result<std::unique_ptr<ImageDriver>> open_qcow2(const std::string&, const OpenOptions&, IoEngine*,
                                                std::unique_ptr<IoEngine>) {
  return make_error(ENOTSUP, "qcow2 is not implemented yet");
}
Result<> create_qcow2(const std::string&, const CreateOptions&) {
  return make_error(ENOTSUP, "qcow2 is not implemented yet");
}
}  // namespace corvid::block
