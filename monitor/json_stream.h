// The QMP wire format's JSON reader, shaped like QEMU's (qobject/json-lexer.c, json-streamer.c,
// json-parser.c): input is a byte stream, not lines. A message ends when its braces and brackets
// balance, so several messages may share a line and one message may span lines. A lexical error
// is reported at once and the lexer skips to the next structural character (QMP spec section
// 2.6 "Forcing the JSON parser into known-good state"). Sizes and nesting are bounded so a
// hostile client cannot make the monitor allocate or recurse without limit.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace corvid::monitor {

using Json = nlohmann::ordered_json;

struct JsonLimits {
  size_t max_message_bytes = 1 << 20;  // QEMU allows 64 MiB; QMP commands are tiny
  size_t max_nesting = 1024;           // QEMU's MAX_NESTING
};

class JsonStream {
 public:
  // Called once per complete message: the value, or (value discarded) the error text QEMU would
  // put in a GenericError ("JSON parse error, invalid keyword 'bad'").
  using Sink = std::function<void(Json value, const std::string* error)>;

  explicit JsonStream(Sink sink, JsonLimits limits = {})
      : sink_(std::move(sink)), limits_(limits) {}
  void feed(std::string_view bytes);

 private:
  enum class Lex { kStart, kString, kEscape, kUnicode, kNumber, kKeyword, kRecovery };
  enum class Tok {
    kLCurly,
    kRCurly,
    kLSquare,
    kRSquare,
    kColon,
    kComma,
    kString,
    kNumber,
    kKeyword
  };
  struct Token {
    Tok type;
    std::string text;  // decoded for strings, raw for numbers and keywords
  };
  class Parser;

  void feed_byte(unsigned char c);
  void start_token(unsigned char c);
  void append_code_point(unsigned cp);
  void lex_error(std::string text);
  void push_token(Tok type, std::string text);
  void emit_error(const std::string& message);
  void reset_message();

  Sink sink_;
  JsonLimits limits_;
  Lex lex_ = Lex::kStart;
  char quote_ = '"';
  std::string token_;     // the token being lexed (decoded string contents for strings)
  std::string raw_;       // raw bytes of the token, for error messages
  unsigned unicode_ = 0;  // \uXXXX accumulator
  int unicode_digits_ = 0;
  unsigned high_surrogate_ = 0;
  std::vector<Token> tokens_;
  size_t message_bytes_ = 0;
  long braces_ = 0, brackets_ = 0;
};

}  // namespace corvid::monitor
