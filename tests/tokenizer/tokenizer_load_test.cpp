// Loading: errors name the file at fault; tokenizer_config.json decides BOS / EOS and the template.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_support.h"

namespace cpm {
namespace {

using test::piece_id;
const std::string kSpace = "\xE2\x96\x81";  // "▁"

// The message of the cpm::Error that loading `dir` throws ("" when it loads).
std::string load_error(const std::string& dir) {
  try {
    Tokenizer::load(dir);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(TokenizerLoadTest, MissingFolderOrFileNamesTheFile) {
  test::TempDir dir;
  const std::string missing = dir.str() + "/no_such_model";
  EXPECT_FALSE(Tokenizer::exists(missing));
  EXPECT_TRUE(contains(load_error(missing), missing + "/tokenizer.json")) << load_error(missing);
  EXPECT_FALSE(Tokenizer::exists(dir.str()));
  EXPECT_TRUE(contains(load_error(dir.str()), dir.str() + "/tokenizer.json: cannot open"))
      << load_error(dir.str());
}

TEST(TokenizerLoadTest, MalformedTokenizerJsonNamesTheFile) {
  test::TempDir dir;
  dir.write("tokenizer.json", "{\"model\": ");
  EXPECT_TRUE(Tokenizer::exists(dir.str()));
  const std::string message = load_error(dir.str());
  EXPECT_TRUE(contains(message, dir.str() + "/tokenizer.json: malformed JSON")) << message;
}

TEST(TokenizerLoadTest, WrongStructureNamesTheFile) {
  const nlohmann::json good = test::minicpm3_style_tokenizer({kSpace}, {});
  std::vector<nlohmann::json> bad(6, good);
  bad[0]["model"]["type"] = "Unigram";
  bad[1]["model"]["merges"] = {"<unk> nowhere"};
  bad[2]["pre_tokenizer"] = {{"type", "ByteLevel"}};
  bad[3]["model"]["vocab"] = "not an object";
  bad[4].erase("model");
  bad[5]["added_tokens"][0].erase("content");
  for (size_t i = 0; i < bad.size(); ++i) {
    test::TempDir dir;
    dir.write("tokenizer.json", bad[i].dump());
    const std::string message = load_error(dir.str());
    EXPECT_TRUE(contains(message, dir.str() + "/tokenizer.json: ")) << i << ": " << message;
  }
}

TEST(TokenizerLoadTest, MalformedConfigNamesTheFile) {
  test::TempDir dir;
  dir.write("tokenizer.json", test::minicpm3_style_tokenizer({kSpace}, {}).dump());
  dir.write("tokenizer_config.json", "[1, 2");
  EXPECT_TRUE(contains(load_error(dir.str()), dir.str() + "/tokenizer_config.json: malformed JSON"));
  dir.write("tokenizer_config.json", R"({"added_tokens_decoder": {"seven": {"content": "x"}}})");
  EXPECT_TRUE(contains(load_error(dir.str()), dir.str() + "/tokenizer_config.json: "))
      << load_error(dir.str());
}

TEST(TokenizerLoadTest, WithoutConfigTheTemplateAddsBos) {
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(dir, test::minicpm3_style_tokenizer({kSpace, "a"}, {}));
  EXPECT_EQ(tokenizer.encode("a"), (std::vector<int32_t>{1, piece_id(0), piece_id(1)}));
  EXPECT_TRUE(tokenizer.add_bos_token());
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), -1);
  EXPECT_EQ(tokenizer.chat_template(), "");
  EXPECT_EQ(tokenizer.encode(""), std::vector<int32_t>{1});
  EXPECT_EQ(tokenizer.encode("", false), std::vector<int32_t>{});
}

TEST(TokenizerLoadTest, ConfigFlagsDecideBosAndEos) {
  test::TempDir dir;
  const Tokenizer tokenizer = test::load_from_json(
      dir, test::minicpm3_style_tokenizer({kSpace, "a"}, {}),
      {{"add_bos_token", false}, {"add_eos_token", true}, {"bos_token", "<s>"}, {"eos_token", "</s>"}});
  EXPECT_FALSE(tokenizer.add_bos_token());
  EXPECT_EQ(tokenizer.encode("a"), (std::vector<int32_t>{piece_id(0), piece_id(1), 2}));
  EXPECT_EQ(tokenizer.encode("a", false), (std::vector<int32_t>{piece_id(0), piece_id(1)}));
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
}

TEST(TokenizerLoadTest, ChatTemplateFromConfigListOrJinjaFile) {
  const nlohmann::json spec = test::minicpm3_style_tokenizer({kSpace}, {});
  test::TempDir listed;
  const nlohmann::json config = {
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "T"}}, {{"name", "default"}, {"template", "D"}}}}};
  EXPECT_EQ(test::load_from_json(listed, spec, config).chat_template(), "D");
  test::TempDir file;
  file.write("chat_template.jinja", "{{ messages }}");
  EXPECT_EQ(test::load_from_json(file, spec).chat_template(), "{{ messages }}");
}

}  // namespace
}  // namespace cpm
