// What every corvid-img command shares: qemu-img's error lines, option parsing conventions,
// image opening with qemu-img's messages, and the command entry points.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "base/result.h"
#include "block/block_device.h"

namespace corvid::img {

// The program name errors start with (basename of argv[0], as qemu-img).
const std::string& progname();
void set_progname(const char* argv0);

// "<prog>: <message>" on stderr.
template <typename... Args>
void report(fmt::format_string<Args...> f, Args&&... args) {
  std::string text = fmt::format(f, std::forward<Args>(args)...);
  std::fprintf(stderr, "%s: %s\n", progname().c_str(), text.c_str());
}

// qemu-img's error_exit: the message, then "Try '<prog> --help' for more information"; returns 1.
template <typename... Args>
int usage_error(fmt::format_string<Args...> f, Args&&... args) {
  report(f, std::forward<Args>(args)...);
  std::fprintf(stderr, "Try '%s --help' for more information\n", progname().c_str());
  return 1;
}

// getopt error handling shared by every command (optstring starts with ':').
int bad_option(int c, char** argv);

// Long options many commands share; their ids lie above every command's own (256...).
enum CommonOption { kOptOutput = 0x1000, kOptObject, kOptImageOpts };
inline constexpr option kOutputOption = {"output", required_argument, nullptr, kOptOutput};
inline constexpr option kObjectOption = {"object", required_argument, nullptr, kOptObject};
inline constexpr option kImageOptsOption = {"image-opts", no_argument, nullptr, kOptImageOpts};
inline constexpr option kForceShareOption = {"force-share", no_argument, nullptr, 'U'};

// The options commands treat alike: -U/--force-share (accepted; corvid takes no image locks),
// --output=human|json (into *json), --object and --image-opts (refused). Returns nullopt when
// c is none of them, else 0 to go on or the exit status to return.
std::optional<int> common_option(int c, char** argv, bool* json = nullptr);

// An open error's text as qemu prints it after "Could not open '<path>': ".
std::string open_error_text(const Error& e);

// strerror of an error's errno (EIO when it carries none).
const char* error_text(const Error& e);

// QEMU's warning when a writable open probed the format and found raw.
void warn_probed_raw(const std::string& path);

// --image-opts: "driver=FMT,file.driver=file,file.filename=PATH[,cache.direct=on]" gives
// PATH; the driver becomes the format open_or_report uses when none is given. Other keys are
// refused with a message (nullopt).
std::optional<std::string> apply_image_opts(const std::string& text);

// Opens an image, printing "Could not open '<path>': <error>" on failure.
std::unique_ptr<block::BlockDevice> open_or_report(const std::string& path,
                                                   const block::OpenOptions& options);

// -t / -T cache modes and -i aio modes with qemu-img's error messages.
// kind picks qemu-img's message: -t, -T (source) or bench's -t.
enum class CacheKind { kTarget, kSource, kBench };
bool parse_cache(const char* text, block::CacheMode* out, CacheKind kind = CacheKind::kTarget);
bool parse_aio(const char* text, block::AioMode* out);

// A size argument ("1G", "64k"); prints qemu-img's "Invalid image size specified" text.
std::optional<uint64_t> parse_image_size(const char* text);

// "human" or "json" for --output; prints the error for anything else.
bool parse_output(const char* text, bool* json);

// Checks -o keys and value syntax for creating a `fmt` image, printing qemu-img's message
// (prefixed with "<path>: " unless path is empty); size values are normalised to bytes.
bool check_create_options(const std::string& fmt, const std::string& path,
                          std::map<std::string, std::string>* options);

// The commands, each given argv starting at the command name.
int cmd_create(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_check(int argc, char** argv);
int cmd_map(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_resize(int argc, char** argv);
int cmd_amend(int argc, char** argv);
int cmd_commit(int argc, char** argv);
int cmd_rebase(int argc, char** argv);
int cmd_snapshot(int argc, char** argv);
int cmd_measure(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_dd(int argc, char** argv);

}  // namespace corvid::img
