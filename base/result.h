// Errors are values: every fallible corvid function returns Result<T>.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <tl/expected.hpp>

namespace corvid {

// An error a user can act on: the errno it came from (0 when there is none) and a message that
// names the object and the problem ("disk.qcow2: L1 table offset 0x1234 is not cluster aligned").
struct Error {
  int code = 0;
  std::string message;

  // "message: strerror(code)" when there is an errno, otherwise just the message.
  std::string to_string() const;
};

template <typename T = void>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(int code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

template <typename... Args>
tl::unexpected<Error> errorf(int code, fmt::format_string<Args...> f, Args&&... args) {
  return make_error(code, fmt::format(f, std::forward<Args>(args)...));
}

// The current errno with a message, for the line right after a failed system call.
template <typename... Args>
tl::unexpected<Error> errno_error(fmt::format_string<Args...> f, Args&&... args) {
  int saved = errno;
  return make_error(saved, fmt::format(f, std::forward<Args>(args)...));
}

// Adds context in front of an error's message: "open disk.qcow2: <original>".
inline Error with_context(Error e, std::string_view context) {
  e.message = std::string(context) + ": " + e.message;
  return e;
}

}  // namespace corvid

// Propagates an error from an expression returning Result<T>; evaluates to the value otherwise.
#define CORVID_TRY(expr)                                             \
  ({                                                                 \
    auto&& corvid_try_r_ = (expr);                                   \
    if (!corvid_try_r_) return tl::unexpected(corvid_try_r_.error()); \
    std::move(*corvid_try_r_);                                       \
  })

#define CORVID_TRY_VOID(expr)                                        \
  do {                                                               \
    auto&& corvid_try_r_ = (expr);                                   \
    if (!corvid_try_r_) return tl::unexpected(corvid_try_r_.error()); \
  } while (0)
