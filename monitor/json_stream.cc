#include "monitor/json_stream.h"

#include <cerrno>
#include <cstdlib>

namespace corvid::monitor {

// Recursive descent over one message's tokens; errors read as json-parser.c's do. Depth is
// bounded by JsonLimits::max_nesting, checked before a message reaches the parser.
class JsonStream::Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  bool parse(Json* out, std::string* error) {
    if (!value(out)) {
      *error = "JSON parse error, " + error_;
      return false;
    }
    return true;
  }

 private:
  const Token* peek() const { return pos_ < tokens_.size() ? &tokens_[pos_] : nullptr; }
  const Token* pop() { return pos_ < tokens_.size() ? &tokens_[pos_++] : nullptr; }
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  bool value(Json* out) {
    const Token* t = peek();
    if (!t) return fail("premature EOI");
    switch (t->type) {
      case Tok::kLCurly:
        return object(out);
      case Tok::kLSquare:
        return array(out);
      case Tok::kString:
        *out = pop()->text;
        return true;
      case Tok::kNumber:
        return number(pop()->text, out);
      case Tok::kKeyword: {
        const std::string& k = pop()->text;
        if (k == "true")
          *out = true;
        else if (k == "false")
          *out = false;
        else if (k == "null")
          *out = nullptr;
        else
          return fail("invalid keyword '" + k + "'");
        return true;
      }
      default:
        return fail("expecting value");
    }
  }

  bool number(const std::string& text, Json* out) {
    bool is_float = text.find_first_of(".eE") != std::string::npos;
    char* end = nullptr;
    errno = 0;
    if (!is_float) {
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && *end == '\0') {
        *out = static_cast<int64_t>(v);
        return true;
      }
      errno = 0;
      if (text[0] != '-') {
        unsigned long long u = std::strtoull(text.c_str(), &end, 10);
        if (errno == 0 && *end == '\0') {
          *out = static_cast<uint64_t>(u);
          return true;
        }
      }
      errno = 0;
    }
    // json-parser.c turns integers too large for 64 bits into doubles, as here.
    *out = std::strtod(text.c_str(), &end);
    return true;
  }

  bool object(Json* out) {
    pop();  // {
    *out = Json::object();
    const Token* t = peek();
    if (!t) return fail("premature EOI");
    if (t->type == Tok::kRCurly) {
      pop();
      return true;
    }
    for (;;) {
      const Token* key = peek();
      if (!key) return fail("premature EOI");
      if (key->type != Tok::kString) {
        // json-parser.c parses the key as a value first, so "{bad}" names the bad keyword.
        Json ignored;
        if (!value(&ignored)) return false;
        return fail("key is not a string in object");
      }
      pop();
      const Token* colon = pop();
      if (!colon || colon->type != Tok::kColon) return fail("missing : in object pair");
      Json v;
      if (!peek()) return fail("Missing value in dict");
      if (!value(&v)) return false;
      if (out->contains(key->text)) return fail("duplicate key");
      (*out)[key->text] = std::move(v);
      const Token* sep = pop();
      if (!sep) return fail("premature EOI");
      if (sep->type == Tok::kRCurly) return true;
      if (sep->type != Tok::kComma) return fail("expected separator in dict");
    }
  }

  bool array(Json* out) {
    pop();  // [
    *out = Json::array();
    const Token* t = peek();
    if (!t) return fail("premature EOI");
    if (t->type == Tok::kRSquare) {
      pop();
      return true;
    }
    for (;;) {
      Json v;
      if (!value(&v)) return false;
      out->push_back(std::move(v));
      const Token* sep = pop();
      if (!sep) return fail("premature EOI");
      if (sep->type == Tok::kRSquare) return true;
      if (sep->type != Tok::kComma) return fail("expected separator in list");
    }
  }

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  std::string error_;
};

namespace {

bool valid_number(const std::string& s) {
  // RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

bool is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

constexpr size_t kMaxKeywordBytes = 64;

}  // namespace

void JsonStream::feed(std::string_view bytes) {
  for (unsigned char c : bytes) feed_byte(c);
}

void JsonStream::reset_message() {
  tokens_.clear();
  message_bytes_ = 0;
  braces_ = brackets_ = 0;
}

void JsonStream::emit_error(const std::string& message) {
  reset_message();
  sink_(Json(), &message);
}

void JsonStream::lex_error(std::string text) {
  lex_ = Lex::kRecovery;
  text.resize(text.find('\0') == std::string::npos ? text.size()
                                                   : text.find('\0'));  // a C string in QEMU
  emit_error("JSON parse error, stray '" + text + "'");
}

void JsonStream::push_token(Tok type, std::string text) {
  switch (type) {
    case Tok::kLCurly:
      ++braces_;
      break;
    case Tok::kRCurly:
      --braces_;
      break;
    case Tok::kLSquare:
      ++brackets_;
      break;
    case Tok::kRSquare:
      --brackets_;
      break;
    default:
      break;
  }
  message_bytes_ += text.size() + 1;
  if (message_bytes_ > limits_.max_message_bytes)
    return emit_error("JSON token size limit exceeded");
  if (braces_ + brackets_ > static_cast<long>(limits_.max_nesting))
    return emit_error("JSON nesting depth limit exceeded");
  tokens_.push_back({type, std::move(text)});
  if ((braces_ > 0 || brackets_ > 0) && braces_ >= 0 && brackets_ >= 0) return;

  Json value;
  std::string error;
  bool ok = Parser(tokens_).parse(&value, &error);
  reset_message();
  sink_(std::move(value), ok ? nullptr : &error);
}

void JsonStream::append_code_point(unsigned cp) {
  if (cp < 0x80) {
    token_ += static_cast<char>(cp);
  } else if (cp < 0x800) {
    token_ += static_cast<char>(0xC0 | (cp >> 6));
    token_ += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    token_ += static_cast<char>(0xE0 | (cp >> 12));
    token_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    token_ += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    token_ += static_cast<char>(0xF0 | (cp >> 18));
    token_ += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    token_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    token_ += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void JsonStream::start_token(unsigned char c) {
  raw_.assign(1, static_cast<char>(c));
  switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
      return;
    case '{':
      return push_token(Tok::kLCurly, "{");
    case '}':
      return push_token(Tok::kRCurly, "}");
    case '[':
      return push_token(Tok::kLSquare, "[");
    case ']':
      return push_token(Tok::kRSquare, "]");
    case ':':
      return push_token(Tok::kColon, ":");
    case ',':
      return push_token(Tok::kComma, ",");
    case '"':
    case '\'':  // QEMU's lexer also takes single-quoted strings
      quote_ = static_cast<char>(c);
      token_.clear();
      high_surrogate_ = 0;
      lex_ = Lex::kString;
      return;
    default:
      break;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    lex_ = Lex::kNumber;
  } else if (c >= 'a' && c <= 'z') {
    lex_ = Lex::kKeyword;
  } else {
    lex_error(raw_);
  }
}

void JsonStream::feed_byte(unsigned char c) {
  switch (lex_) {
    case Lex::kRecovery:
      // json-lexer.c IN_RECOVERY: resynchronise on a structural or control character.
      if ((c < 0x20 && c != '\t') || c >= 0xFE || c == '{' || c == '}' || c == '[' || c == ']') {
        lex_ = Lex::kStart;
        return feed_byte(c);
      }
      return;
    case Lex::kStart:
      return start_token(c);
    case Lex::kString:
      raw_ += static_cast<char>(c);
      // 0xFE and 0xFF never occur in UTF-8: json-lexer.c makes them errors even inside strings,
      // which is what lets a client reset the parser with them (QMP spec section 2.6).
      if (c >= 0xFE) return lex_error(raw_);
      if (message_bytes_ + raw_.size() > limits_.max_message_bytes) {
        lex_ = Lex::kRecovery;
        return emit_error("JSON token size limit exceeded");
      }
      if (high_surrogate_ && c != '\\') {  // a high surrogate not followed by \u: unpaired
        append_code_point(0xFFFD);
        high_surrogate_ = 0;
      }
      if (c == static_cast<unsigned char>(quote_)) {
        lex_ = Lex::kStart;
        return push_token(Tok::kString, std::move(token_));
      }
      if (c == '\\') {
        lex_ = Lex::kEscape;
      } else if (c < 0x20) {
        lex_error(raw_);
      } else {
        token_ += static_cast<char>(c);
      }
      return;
    case Lex::kEscape: {
      raw_ += static_cast<char>(c);
      if (c >= 0xFE) return lex_error(raw_);
      lex_ = Lex::kString;
      switch (c) {
        case '"':
        case '\'':
        case '\\':
        case '/':
          token_ += static_cast<char>(c);
          return;
        case 'b':
          token_ += '\b';
          return;
        case 'f':
          token_ += '\f';
          return;
        case 'n':
          token_ += '\n';
          return;
        case 'r':
          token_ += '\r';
          return;
        case 't':
          token_ += '\t';
          return;
        case 'u':
          lex_ = Lex::kUnicode;
          unicode_ = 0;
          unicode_digits_ = 0;
          return;
        default:
          return lex_error(raw_);
      }
    }
    case Lex::kUnicode: {
      raw_ += static_cast<char>(c);
      if (!is_hex(c)) return lex_error(raw_);
      unicode_ = unicode_ * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      if (++unicode_digits_ < 4) return;
      lex_ = Lex::kString;
      if (unicode_ == 0) {
        lex_ = Lex::kRecovery;
        return emit_error("JSON parse error, \\u0000 is not supported");
      }
      if (unicode_ >= 0xD800 && unicode_ < 0xDC00) {
        if (high_surrogate_) append_code_point(0xFFFD);
        high_surrogate_ = unicode_;
        return;
      }
      if (unicode_ >= 0xDC00 && unicode_ < 0xE000 && high_surrogate_) {
        append_code_point(0x10000 + ((high_surrogate_ - 0xD800) << 10) + (unicode_ - 0xDC00));
      } else {
        append_code_point(unicode_ >= 0xD800 && unicode_ < 0xE000 ? 0xFFFD : unicode_);
      }
      high_surrogate_ = 0;
      return;
    }
    case Lex::kNumber:
      if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        raw_ += static_cast<char>(c);
        if (raw_.size() > kMaxKeywordBytes) return lex_error(raw_);
        return;
      }
      lex_ = Lex::kStart;
      if (!valid_number(raw_)) {
        lex_error(raw_);
        return feed_byte(c);
      }
      push_token(Tok::kNumber, raw_);
      return feed_byte(c);
    case Lex::kKeyword:
      if (c >= 'a' && c <= 'z') {
        raw_ += static_cast<char>(c);
        if (raw_.size() > kMaxKeywordBytes) return lex_error(raw_);
        return;
      }
      lex_ = Lex::kStart;
      push_token(Tok::kKeyword, raw_);
      return feed_byte(c);
  }
}

}  // namespace corvid::monitor
