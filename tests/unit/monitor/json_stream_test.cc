#include "monitor/json_stream.h"

#include <gtest/gtest.h>

#include "monitor/json_writer.h"

namespace corvid::monitor {
namespace {

// Feeds text and returns one line per message: the value as QMP text, or "error: ...".
std::vector<std::string> run(std::string_view input, JsonLimits limits = {}) {
  std::vector<std::string> out;
  JsonStream stream(
      [&](Json v, const std::string* err) {
        out.push_back(err ? "error: " + *err : to_qmp_text(v));
      },
      limits);
  stream.feed(input);
  return out;
}

using V = std::vector<std::string>;

TEST(JsonStream, MessagesEndWhenBracesBalanceNotAtNewlines) {
  EXPECT_EQ(run("{\"a\": 1}{\"b\": [2, 3]}"), (V{"{\"a\": 1}", "{\"b\": [2, 3]}"}));
  EXPECT_EQ(run("{\"execute\":\n\"query-name\"}"), (V{"{\"execute\": \"query-name\"}"}));
  EXPECT_EQ(run("{\"a\": 1"), V{});  // incomplete: waits for more bytes
}

TEST(JsonStream, ByteAtATimeGivesTheSameResult) {
  std::vector<std::string> out;
  JsonStream stream(
      [&](Json v, const std::string* err) { out.push_back(err ? *err : to_qmp_text(v)); });
  for (char c : std::string("{\"k\": [true, false, null, -1.5e3, 18446744073709551615, 'sq']}\n"))
    stream.feed(std::string_view(&c, 1));
  EXPECT_EQ(out, (V{"{\"k\": [true, false, null, -1500, 18446744073709551615, \"sq\"]}"}));
}

TEST(JsonStream, ErrorTextsMatchQemu) {
  // Each expected text was observed from qemu-system-x86_64 7.2 over QMP.
  EXPECT_EQ(run("{bad}"), (V{"error: JSON parse error, invalid keyword 'bad'"}));
  EXPECT_EQ(run("]"), (V{"error: JSON parse error, expecting value"}));
  EXPECT_EQ(run(std::string("\x00", 1)), (V{"error: JSON parse error, stray ''"}));
  EXPECT_EQ(run("{\"execute\":\"a\",\"id\":1,\"execute\":\"b\"}"),
            (V{"error: JSON parse error, duplicate key"}));
}

TEST(JsonStream, LexicalErrorRecoversAtTheNextStructuralCharacter) {
  EXPECT_EQ(run("@@@ junk {\"ok\": 1}"), (V{"error: JSON parse error, stray '@'", "{\"ok\": 1}"}));
  EXPECT_EQ(run("\xff\xfe{}"), (V{"error: JSON parse error, stray '\xff'",
                                  "error: JSON parse error, stray '\xfe'", "{}"}));
}

TEST(JsonStream, NestingBeyondTheLimitIsAnErrorNotARecursion) {
  std::string deep(100000, '[');
  // Each 1025th bracket overflows again; a 0xFF byte resets the parser (QMP spec 2.6).
  auto out = run(deep + "\xff{}");
  ASSERT_EQ(out.size(), 100000 / 1025 + 2);
  EXPECT_EQ(out[0], "error: JSON nesting depth limit exceeded");
  EXPECT_EQ(out[out.size() - 2], "error: JSON parse error, stray '\xff'");
  EXPECT_EQ(out.back(), "{}");
  std::string ok = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_EQ(run(ok).size(), 1u);
}

TEST(JsonStream, HugeMessagesAndTokensHitTheSizeLimit) {
  JsonLimits small{.max_message_bytes = 1000};
  auto out = run("{\"a\": \"" + std::string(5000, 'x') + "\"} {\"b\": 2}", small);
  EXPECT_EQ(out.front(), "error: JSON token size limit exceeded");
  EXPECT_EQ(out.back(), "{\"b\": 2}");
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += "1,";
  out = run(many + "1] {}", small);
  EXPECT_EQ(out.front(), "error: JSON token size limit exceeded");
  EXPECT_EQ(out.back(), "{}");
}

TEST(JsonStream, UnicodeEscapesDecodeAndNonAsciiIsWrittenEscaped) {
  EXPECT_EQ(run("[\"\\u00e9\\ud83d\\ude00\"]"), (V{"[\"\\u00E9\\uD83D\\uDE00\"]"}));
  EXPECT_EQ(run("[\"\\u0000\"]").front(), "error: JSON parse error, \\u0000 is not supported");
}

TEST(JsonWriter, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(to_qmp_text(Json("a\xff"
                             "b")),
            "\"a\\uFFFDb\"");
  EXPECT_EQ(to_qmp_text(Json{{"k", Json::array({1, "x"})}}), "{\"k\": [1, \"x\"]}");
}

}  // namespace
}  // namespace corvid::monitor

namespace corvid::monitor {
namespace {

// Random bytes (a fixed-seed LCG, so failures reproduce) never crash the reader, every message
// is either a value or an error, and 0xFF always brings it back for the next command.
TEST(JsonStream, RandomBytesThenResyncAlwaysParsesTheNextCommand) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint8_t>(seed >> 56);
  };
  static const char kAlphabet[] = "{}[]:,\"'\\u0123456789-+.eEtruefalsn \n\t\x01\xff\xc3\xa9";
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> out;
    JsonStream stream(
        [&](Json v, const std::string* err) { out.push_back(err ? "error" : to_qmp_text(v)); },
        JsonLimits{.max_message_bytes = 4096, .max_nesting = 64});
    std::string junk;
    int len = next() * 4;
    for (int i = 0; i < len; ++i)
      junk += round % 2 ? static_cast<char>(next()) : kAlphabet[next() % (sizeof kAlphabet - 1)];
    stream.feed(junk);
    out.clear();
    stream.feed("\xff{\"execute\": \"query-name\"}");
    ASSERT_FALSE(out.empty()) << "round " << round;
    EXPECT_EQ(out.back(), "{\"execute\": \"query-name\"}") << "round " << round;
  }
}

}  // namespace
}  // namespace corvid::monitor
