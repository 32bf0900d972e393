// The decoder chain, and streaming decoding that must equal the full decode chunk for chunk.
#include "tokenizer/decoder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/utf8.h"

namespace cpm {
namespace {

using test::piece_id;
const std::string kSpace = "\xE2\x96\x81";  // "▁"
const std::string kReplacement = "\xEF\xBF\xBD";

std::string decode_tokens(const DecoderChain& chain, const std::vector<std::string>& tokens) {
  DecoderChain::Stream stream(chain);
  std::string text;
  for (const std::string& token : tokens) text += stream.push(token);
  return text + stream.finish();
}

DecoderChain minicpm3_decoder() {
  return DecoderChain::from_json(test::minicpm3_style_tokenizer({}, {})["decoder"], "tokenizer.json");
}

TEST(DecoderTest, ReplacesSpacePiecesAndStripsOneLeadingSpace) {
  const DecoderChain chain = minicpm3_decoder();
  EXPECT_EQ(decode_tokens(chain, {kSpace + "Hello", kSpace + "world"}), "Hello world");
  EXPECT_EQ(decode_tokens(chain, {kSpace, kSpace + "two"}), " two");
  EXPECT_EQ(decode_tokens(chain, {"<s>", kSpace + "x"}), "<s> x");  // the space after a special token
  EXPECT_EQ(decode_tokens(chain, {}), "");
}

TEST(DecoderTest, ByteRunsDecodeAsUtf8OrOneReplacementPerByte) {
  const DecoderChain chain = minicpm3_decoder();
  EXPECT_EQ(decode_tokens(chain, {"<0xE4>", "<0xBD>", "<0xA0>", "<0x41>"}), "你A");
  EXPECT_EQ(decode_tokens(chain, {"<0xE4>", "<0xBD>"}), kReplacement + kReplacement);
  EXPECT_EQ(decode_tokens(chain, {"<0xE4>", "<0xBD>", "x", "<0xA0>"}),
            kReplacement + kReplacement + "x" + kReplacement);
  // Rust's from_utf8 rejects overlong forms and surrogates.
  EXPECT_EQ(decode_tokens(chain, {"<0xC0>", "<0x80>"}), kReplacement + kReplacement);
  EXPECT_EQ(decode_tokens(chain, {"<0xED>", "<0xA0>", "<0x80>"}), kReplacement + kReplacement + kReplacement);
  // Lower-case hex and other near misses.
  EXPECT_EQ(decode_tokens(chain, {"<0x4a>", "<0xZZ>"}), "J<0xZZ>");
}

TEST(DecoderTest, StreamHoldsAByteRunUntilItCloses) {
  const DecoderChain chain = minicpm3_decoder();
  DecoderChain::Stream stream(chain);
  EXPECT_EQ(stream.push(kSpace + "a"), "a");
  EXPECT_EQ(stream.push("<0xE4>"), "");
  EXPECT_EQ(stream.push("<0xBD>"), "");
  EXPECT_EQ(stream.push("<0xA0>"), "");  // complete, but a further byte could still spoil the run
  EXPECT_EQ(stream.push(kSpace + "b"), "你 b");
  EXPECT_EQ(stream.finish(), "");
}

TEST(DecoderTest, NullDecoderJoinsWithSpaces) {
  const DecoderChain chain = DecoderChain::from_json(nullptr, "tokenizer.json");
  EXPECT_EQ(decode_tokens(chain, {"a", "b", "<0x41>"}), "a b <0x41>");
}

TEST(DecoderTest, FinalStripMayTrimTheEndToo) {
  const DecoderChain chain =
      DecoderChain::from_json({{"type", "Sequence"},
                               {"decoders",
                                {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                 {{"type", "Fuse"}},
                                 {{"type", "Strip"}, {"content", " "}, {"start", 2}, {"stop", 1}}}}},
                              "tokenizer.json");
  EXPECT_EQ(decode_tokens(chain, {kSpace, kSpace, kSpace + "a", kSpace, kSpace}), " a ");
  EXPECT_EQ(decode_tokens(chain, {"a" + kSpace, "b" + kSpace}), "a b");
}

TEST(DecoderTest, StripBeforeFuseWorksPerToken) {
  const DecoderChain chain =
      DecoderChain::from_json({{"type", "Sequence"},
                               {"decoders",
                                {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                 {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}},
                              "tokenizer.json");
  EXPECT_EQ(decode_tokens(chain, {kSpace + "a", kSpace + "b"}), "ab");
}

TEST(DecoderTest, UnsupportedStepsNameTheFile) {
  try {
    DecoderChain::from_json({{"type", "ByteLevel"}}, "dir/tokenizer.json");
    FAIL() << "accepted a ByteLevel decoder";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("dir/tokenizer.json"), std::string::npos);
  }
}

// Random id sequences, byte tokens and special tokens included: streaming equals decode().
TEST(IncrementalDecoderTest, MatchesFullDecodeOnRandomIds) {
  const std::vector<std::string> pieces = {kSpace, "a", kSpace + "b", "日本", "\n", kSpace + kSpace};
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer(pieces, {}));
  const int32_t im_end = piece_id(pieces.size());
  const std::vector<int32_t> interesting = {1,        2,        0,        im_end,   im_end + 1, 3 + 0xE4,
                                            3 + 0xBD, 3 + 0xA0, 3 + 0xF0, 3 + 0x9F, 3 + 0x99,   3 + 0x82,
                                            3 + 0x80, 3 + 0xFF, 3 + 0x20, -5,       99999};
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    std::vector<int32_t> ids(random() % 12);
    for (int32_t& id : ids) {
      id = random() % 2 ? interesting[random() % interesting.size()] : piece_id(random() % pieces.size());
    }
    for (bool skip : {false, true}) {
      bool valid = true;
      ASSERT_EQ(test::decode_incrementally(tokenizer, ids, skip, &valid), tokenizer.decode(ids, skip))
          << "round " << round << " skip " << skip;
      ASSERT_TRUE(valid) << "round " << round;
    }
  }
}

TEST(IncrementalDecoderTest, EmitsTextAsSoonAsItIsFinal) {
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer({kSpace, "a"}, {}));
  IncrementalDecoder decoder(tokenizer);
  EXPECT_EQ(decoder.feed(piece_id(0)), "");  // a lone leading "▁" is stripped
  EXPECT_EQ(decoder.feed(piece_id(0)), " ");
  EXPECT_EQ(decoder.feed(piece_id(1)), "a");
  EXPECT_EQ(decoder.feed(1), "<s>");
  EXPECT_EQ(decoder.finish(), "");
  IncrementalDecoder skipping(tokenizer, /*skip_special_tokens=*/true);
  EXPECT_EQ(skipping.feed(1), "");
  EXPECT_EQ(skipping.feed(piece_id(0)), "");
  EXPECT_EQ(skipping.feed(piece_id(1)), "a");
}

}  // namespace
}  // namespace cpm
