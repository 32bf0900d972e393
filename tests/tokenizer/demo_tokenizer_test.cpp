// The built-in demo model's tokenizer (models/demo, trained with spm_train by tools/demo_model)
// against the ids and texts tools/demo_model/write_cases.py wrote from the tokenizer.json semantics
// (tests/data/demo/tokenizer_cases.json).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"

namespace cpm {
namespace {

struct DemoCase {
  std::string text, decoded;
  std::vector<int32_t> ids_with_bos, ids_no_special;
};

std::vector<DemoCase> demo_cases() {
  std::ifstream in(test::test_data_dir() + "/demo/tokenizer_cases.json");
  const nlohmann::json root = nlohmann::json::parse(in);
  std::vector<DemoCase> cases;
  for (const nlohmann::json& item : root.at("cases")) {
    cases.push_back({item.at("text"), item.at("decoded"), item.at("ids_with_bos").get<std::vector<int32_t>>(),
                     item.at("ids_no_special").get<std::vector<int32_t>>()});
  }
  return cases;
}

const Tokenizer& demo_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(test::source_dir() + "/models/demo");
  return tokenizer;
}

TEST(DemoTokenizerTest, CasesEncode) {
  const std::vector<DemoCase> cases = demo_cases();
  ASSERT_GT(cases.size(), 50u);
  for (const DemoCase& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(demo_tokenizer().encode(c.text, true), c.ids_with_bos);
    EXPECT_EQ(demo_tokenizer().encode(c.text, false), c.ids_no_special);
  }
}

TEST(DemoTokenizerTest, CasesDecode) {
  for (const DemoCase& c : demo_cases()) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(demo_tokenizer().decode(c.ids_no_special), c.decoded);
    bool valid = true;
    EXPECT_EQ(test::decode_incrementally(demo_tokenizer(), c.ids_no_special, false, &valid), c.decoded);
    EXPECT_TRUE(valid) << "a chunk was not valid UTF-8";
  }
}

TEST(DemoTokenizerTest, ChatTokensAreSingleIds) {
  for (const char* special : {"<|im_start|>", "<|im_end|>"}) {
    EXPECT_EQ(demo_tokenizer().encode(special, false).size(), 1u) << special;
  }
  EXPECT_FALSE(demo_tokenizer().chat_template().empty());
}

}  // namespace
}  // namespace cpm
