// qemu-img create for qcow2, producing QEMU 7.2's layout: header cluster, a one-cluster
// refcount table at cluster 1, its refcount block at cluster 2, then the image is opened and
// grown like qcow2_co_create does (L1 at cluster 3, then preallocation).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "base/size.h"
#include "base/unique_fd.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {
namespace {

struct CreateParams {
  uint32_t version = 3;
  uint32_t cluster_bits = 16;
  uint32_t refcount_order = 4;
  bool lazy_refcounts = false;
  uint8_t compression_type = 0;
  std::string preallocation = "off";
  std::string backing_file, backing_fmt;
};

Result<bool> parse_bool(const std::string& key, const std::string& v) {
  if (v == "on") return true;
  if (v == "off") return false;
  return errorf(EINVAL, "Parameter '{}' expects 'on' or 'off'", key);
}

Result<CreateParams> parse_params(const CreateOptions& options) {
  CreateParams p;
  for (const auto& [key, v] : options.options) {
    if (key == "compat") {
      if (v == "0.10" || v == "v2") {
        p.version = 2;
      } else if (v == "1.1" || v == "v3") {
        p.version = 3;
      } else {
        return errorf(EINVAL, "Parameter 'version' does not accept value '{}'", v);
      }
    } else if (key == "cluster_size") {
      auto cs = parse_size(v);
      if (!cs || *cs < 512 || *cs > (2u << 20) || (*cs & (*cs - 1)))
        return make_error(EINVAL, "Cluster size must be a power of two between 512 and 2048k");
      p.cluster_bits = static_cast<uint32_t>(__builtin_ctzll(*cs));
    } else if (key == "refcount_bits") {
      auto bits = parse_size(v);
      if (!bits || *bits == 0 || *bits > 64 || (*bits & (*bits - 1)))
        return make_error(EINVAL,
                          "Refcount width must be a power of two and may not exceed 64 bits");
      p.refcount_order = static_cast<uint32_t>(__builtin_ctzll(*bits));
    } else if (key == "lazy_refcounts") {
      p.lazy_refcounts = CORVID_TRY(parse_bool(key, v));
    } else if (key == "compression_type") {
      if (v == "zlib") {
        p.compression_type = 0;
      } else if (v == "zstd") {
        p.compression_type = 1;
      } else {
        return errorf(EINVAL, "Parameter 'compression-type' does not accept value '{}'", v);
      }
    } else if (key == "preallocation") {
      if (v != "off" && v != "metadata" && v != "falloc" && v != "full")
        return errorf(EINVAL, "Parameter 'preallocation' does not accept value '{}'", v);
      p.preallocation = v;
    } else if (key == "backing_file") {
      p.backing_file = v;
    } else if (key == "backing_fmt") {
      p.backing_fmt = v;
    } else if (key == "extended_l2") {
      if (CORVID_TRY(parse_bool(key, v)))
        return make_error(ENOTSUP, "Extended L2 entries are not supported by corvid");
    } else if (key == "encryption" || key == "encrypt.format" || key == "data_file" ||
               key == "data_file_raw") {
      if (key == "encryption" && !CORVID_TRY(parse_bool(key, v))) continue;
      if (key == "data_file_raw" && !CORVID_TRY(parse_bool(key, v))) continue;
      return errorf(ENOTSUP, "Option '{}' is not supported by corvid", key);
    } else if (key == "size" || key == "nocow" || key == "extent_size_hint") {
      continue;  // nocow/extent_size_hint: the image file's hints, left to the file system
    } else {
      return errorf(EINVAL, "Invalid parameter '{}'", key);
    }
  }
  if (p.version < 3) {
    if (p.refcount_order != 4)
      return make_error(
          EINVAL,
          "Different refcount widths than 16 bits require compatibility level 1.1 or above "
          "(use version=v3 or greater)");
    if (p.lazy_refcounts)
      return make_error(EINVAL,
                        "Lazy refcounts only supported with compatibility level 1.1 and above "
                        "(use version=v3 or greater)");
    if (p.compression_type != 0)
      return make_error(
          EINVAL,
          "Non-zlib compression type is only supported with compatibility level 1.1 and "
          "above (use version=v3 or greater)");
  }
  if (!p.backing_fmt.empty() && p.backing_file.empty())
    return make_error(EINVAL, "Backing format cannot be used without backing file");
  if (!p.backing_file.empty() && p.preallocation != "off")
    return make_error(
        EINVAL,
        "Backing file and preallocation can only be used at the same time if extended_l2 is on");
  return p;
}

}  // namespace

Result<> create(const std::string& path, const CreateOptions& options) {
  CreateParams p = CORVID_TRY(parse_params(options));
  std::optional<uint64_t> size = options.size;
  if (!p.backing_file.empty() && options.check_backing) {
    // The backing file must open (qemu-img create checks it and takes its size).
    std::string bpath = resolve_backing_path(path, p.backing_file);
    OpenOptions bo;
    bo.read_only = true;
    bo.no_backing = false;
    bo.format = p.backing_fmt;
    auto b = open_image(bpath, bo);
    if (!b) return errorf(b.error().code, "{}\nCould not open backing image.", b.error().message);
    if (p.backing_fmt.empty()) {
      return errorf(EINVAL, "Backing file specified without backing format\nDetected format of {}.",
                    (*b)->format_name());
    }
    if (!size) size = (*b)->size();
  }
  if (!size) return make_error(EINVAL, "Image creation needs a size parameter");
  const uint64_t cs = 1ull << p.cluster_bits;
  const uint64_t vsize = (*size + 511) & ~uint64_t{511};
  const uint64_t l1_cover = cs * (cs / 8);
  if (vsize / l1_cover + 1 > kMaxL1Bytes / 8)
    return make_error(
        EFBIG,
        "The image size is too large for file format 'qcow2' (try using a larger cluster size)");

  {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return errno_error("Could not create '{}': {}", path, std::strerror(errno));
    Header h;
    h.version = p.version;
    h.cluster_bits = p.cluster_bits;
    h.refcount_order = p.refcount_order;
    h.refcount_table_offset = cs;
    h.refcount_table_clusters = 1;
    h.compression_type = p.compression_type;
    if (p.compression_type) h.incompatible_features |= kIncompatCompression;
    if (p.lazy_refcounts) h.compatible_features |= kCompatLazyRefcounts;
    auto cluster0 = CORVID_TRY(serialize_header(h));
    if (::pwrite(fd.get(), cluster0.data(), cs, 0) != static_cast<ssize_t>(cs))
      return errno_error("Could not write qcow2 header: {}", std::strerror(errno));
    std::vector<uint8_t> tables(2 * cs, 0);
    store_be64(tables.data(), 2 * cs);
    if (::pwrite(fd.get(), tables.data(), tables.size(), static_cast<off_t>(cs)) !=
        static_cast<ssize_t>(tables.size()))
      return errno_error("Could not write refcount table: {}", std::strerror(errno));
  }

  OpenOptions oo;
  oo.format = "qcow2";
  oo.check = true;  // refcounts of the header and tables are not set yet
  oo.no_backing = true;
  auto engine = CORVID_TRY(IoEngine::create(AioMode::kThreads, 4));
  auto drv = CORVID_TRY(Device::open(path, oo, engine.get(), nullptr, nullptr, true));
  auto* dev = static_cast<Device*>(drv.get());
  CORVID_TRY_VOID(dev->finish_create(vsize, p.preallocation, p.backing_file, p.backing_fmt));
  return dev->close();
}

}  // namespace corvid::block::qcow2
