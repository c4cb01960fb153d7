// qemu-img amend for qcow2 (compat and lazy_refcounts, QEMU 7.2 qcow2_amend_options), the
// backing file pointer (rebase -u), and truncate with preallocation.
#include <cerrno>
#include <cstring>

#include "base/endian.h"
#include "block/qcow2.h"

namespace corvid::block::qcow2 {

Result<> Device::change_backing_file(const std::string& backing, const std::string& backing_fmt) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  if (backing.size() > kMaxBackingNameLength)
    return make_error(EINVAL, "Backing file name too long");
  Header saved = header_;
  header_.backing_file = backing;
  header_.backing_format = backing.empty() ? std::string() : backing_fmt;
  auto r = rewrite_header();
  if (!r) header_ = saved;
  return r;
}

Result<> Device::truncate(uint64_t new_size, bool shrink_ok, const std::string& prealloc) {
  if (prealloc == "off" || new_size <= header_.size) return resize(new_size, shrink_ok);
  if (read_only()) return make_error(EACCES, "Image is read-only");
  CORVID_TRY_VOID(flush_metadata());
  if (prealloc != "metadata" && prealloc != "falloc" && prealloc != "full")
    return errorf(EINVAL, "Unsupported preallocation mode '{}'", prealloc);
  return grow(new_size, prealloc);
}

// Zero clusters do not exist in v2: plain ones become unallocated (or, over a backing file,
// allocated zeroed clusters); preallocated ones lose the flag after their data is zeroed.
Result<> Device::expand_zero_clusters() {
  std::vector<uint8_t> zeros(cluster_size_, 0);
  for (uint64_t i = 0; i < l1_.size(); ++i) {
    if (!(l1_[i] & kL1eOffsetMask)) continue;
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t ignored;
      CachedTable* t = CORVID_TRY(l2_table(i, &ignored));
      uint64_t e = load_be64(t->data.data() + j * 8);
      ClusterType type = entry_type(e);
      if (type != ClusterType::kZeroPlain && type != ClusterType::kZeroAlloc) continue;
      uint64_t host = e & kL2eOffsetMask;
      if (type == ClusterType::kZeroPlain && !backing_) {
        host = 0;
      } else if (type == ClusterType::kZeroPlain) {
        host = CORVID_TRY(alloc_clusters(cluster_size_));
      }
      if (host) CORVID_TRY_VOID(file_.pwrite(zeros.data(), cluster_size_, host));
      t = CORVID_TRY(l2_table_for_write(i));
      store_be64(t->data.data() + j * 8, host ? (host | kOflagCopied) : 0);
      CORVID_TRY_VOID(write_l2_entries(t, j, 1));
    }
  }
  return {};
}

Result<> Device::amend(const std::map<std::string, std::string>& options) {
  if (read_only()) return make_error(EACCES, "Image is read-only");
  CORVID_TRY_VOID(flush_metadata());
  std::optional<uint32_t> version;
  std::optional<bool> lazy;
  for (const auto& [key, v] : options) {
    if (key == "compat") {
      if (v == "0.10" || v == "v2") {
        version = 2;
      } else if (v == "1.1" || v == "v3") {
        version = 3;
      } else {
        return errorf(EINVAL, "Parameter 'version' does not accept value '{}'", v);
      }
    } else if (key == "lazy_refcounts") {
      if (v != "on" && v != "off")
        return errorf(EINVAL, "Parameter 'lazy_refcounts' expects 'on' or 'off'");
      lazy = v == "on";
    } else if (key == "refcount_bits") {
      if (std::strtoul(v.c_str(), nullptr, 10) != (1u << header_.refcount_order))
        return make_error(ENOTSUP, "Changing the refcount width is not supported by corvid");
    } else if (key == "size" || key == "backing_file" || key == "backing_fmt") {
      return errorf(ENOTSUP, "Changing option '{}' with amend is not supported by corvid", key);
    } else if (key == "cluster_size" || key == "preallocation" || key == "encryption" ||
               key == "compression_type" || key == "extended_l2" || key == "data_file" ||
               key == "data_file_raw") {
      return errorf(ENOTSUP, "Changing option '{}' is not supported", key);
    } else {
      return errorf(EINVAL, "Invalid parameter '{}'", key);
    }
  }
  uint32_t new_version = version.value_or(header_.version);
  bool new_lazy = lazy.value_or(header_.compatible_features & kCompatLazyRefcounts);
  if (new_lazy && new_version < 3) {
    if (lazy.value_or(false)) {
      return make_error(EINVAL,
                        "Lazy refcounts only supported with compatibility level 1.1 and above "
                        "(use compat=1.1 or greater)");
    }
    new_lazy = false;  // downgrading drops lazy refcounts after a clean write-back
  }
  if (new_version < 3 && header_.refcount_order != 4)
    return make_error(EINVAL, "compat=0.10 requires refcount_bits=16");
  if (new_version < 3 && header_.compression_type != 0)
    return make_error(EINVAL, "compat=0.10 requires compression_type=zlib");

  if (!new_lazy && (header_.incompatible_features & kIncompatDirty)) CORVID_TRY_VOID(mark_clean());
  if (new_lazy) {
    header_.compatible_features |= kCompatLazyRefcounts;
  } else {
    header_.compatible_features &= ~kCompatLazyRefcounts;
  }
  lazy_refcounts_ = new_lazy;
  if (new_version < header_.version) {
    CORVID_TRY_VOID(expand_zero_clusters());
    CORVID_TRY_VOID(flush_refblocks());
    header_.incompatible_features = 0;
    header_.compatible_features = 0;
    header_.autoclear_features = 0;
    header_.unknown_header_fields.clear();
  }
  header_.version = new_version;
  return rewrite_header();
}

}  // namespace corvid::block::qcow2
