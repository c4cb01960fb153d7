#include "accel/kvm/kvm_accelerator.h"
#include "accel/tcg/tcg_accelerator.h"
#include "accel/xen/xen_accelerator.h"
#include "base/log.h"

namespace corvid::accel {

std::string_view accel_name(AccelKind kind) {
  switch (kind) {
    case AccelKind::kKvm:
      return "kvm";
    case AccelKind::kXen:
      return "xen";
    case AccelKind::kTcg:
      return "tcg";
  }
  return "?";
}

Result<std::unique_ptr<Accelerator>> create_accelerator(const AccelOptions& options) {
  if (options.vcpus < 1)
    return errorf(EINVAL, "{} vCPUs requested: need at least 1", options.vcpus);
  const std::string& want = options.requested;
  if (want == "kvm") return create_kvm_accelerator(options);
  if (want == "xen") return create_xen_accelerator(options);
  if (want == "tcg") return create_tcg_accelerator(options);
  if (want != "auto")
    return errorf(EINVAL, "unknown accelerator '{}' (expected kvm, xen, tcg or auto)", want);

  // auto: hardware first, then the translator. Each refusal is kept so that, if none works, the
  // error says why for every one of them.
  using Factory = Result<std::unique_ptr<Accelerator>> (*)(const AccelOptions&);
  constexpr std::pair<const char*, Factory> kOrder[] = {
      {"kvm", create_kvm_accelerator},
      {"xen", create_xen_accelerator},
      {"tcg", create_tcg_accelerator},
  };
  std::string reasons;
  for (const auto& [name, factory] : kOrder) {
    auto accel = factory(options);
    if (accel) {
      LOG_INFO("accel auto: chose {}{}", (*accel)->describe(),
               reasons.empty() ? "" : " after passing over: " + reasons);
      return accel;
    }
    LOG_INFO("accel auto: {} unavailable: {}", name, accel.error().to_string());
    if (!reasons.empty()) reasons += "; ";
    reasons += accel.error().to_string();
  }
  return errorf(ENODEV, "no accelerator is available: {}", reasons);
}

}  // namespace corvid::accel
