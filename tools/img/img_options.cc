#include "tools/img/img_options.h"

namespace corvid::img {

Result<> parse_option_string(const std::string& text, std::map<std::string, std::string>* out) {
  std::string item;
  auto flush = [&]() -> Result<> {
    if (item.empty()) return {};
    size_t eq = item.find('=');
    if (eq == std::string::npos) return errorf(EINVAL, "Invalid parameter '{}'", item);
    (*out)[item.substr(0, eq)] = item.substr(eq + 1);
    item.clear();
    return {};
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ',' && i + 1 < text.size() && text[i + 1] == ',') {
      item.push_back(',');
      ++i;
    } else if (text[i] == ',') {
      CORVID_TRY_VOID(flush());
    } else {
      item.push_back(text[i]);
    }
  }
  return flush();
}

std::string resolve_backing_path(const std::string& image, const std::string& backing) {
  if (backing.empty() || backing[0] == '/') return backing;
  size_t slash = image.rfind('/');
  if (slash == std::string::npos) return backing;
  return image.substr(0, slash + 1) + backing;
}

}  // namespace corvid::img
