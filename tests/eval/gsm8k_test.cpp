// The GSM8K protocol: data loading, prompts, answer extraction and stop strings. Expected prompts are
// rebuilt here from the protocol document's rules, independently of src/eval/gsm8k.cpp.
#include "eval/gsm8k.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_paths.h"

namespace cpm {
namespace {

std::string test_jsonl() {
  return test::shared_dir() + "/data/gsm8k/test.jsonl";
}

// The data file read directly with nlohmann::json, line by line.
std::vector<std::pair<std::string, std::string>> raw_records() {
  std::ifstream in(test_jsonl());
  std::vector<std::pair<std::string, std::string>> records;
  for (std::string line; std::getline(in, line);) {
    const auto object = nlohmann::json::parse(line);
    records.emplace_back(object.at("question").get<std::string>(), object.at("answer").get<std::string>());
  }
  return records;
}

// The number on the "#### N" line with the protocol's rules applied: commas removed, and the sign
// ignored (two labels, -10 and -3, are negative; the reference scores them as 10 and 3).
std::string labelled_number(const std::string& answer) {
  const size_t marker = answer.rfind("\n#### ");
  EXPECT_NE(marker, std::string::npos) << answer;
  std::string number;
  for (char c : answer.substr(marker + 6)) {
    if (c != ',' && c != '-') number.push_back(c);
  }
  return number;
}

TEST(Gsm8kData, LoadsEveryRecordOfTheTestSplit) {
  CPM_REQUIRE_SHARED();
  const auto records = load_gsm8k(test_jsonl());
  const auto raw = raw_records();
  ASSERT_EQ(records.size(), 1319u);
  ASSERT_EQ(raw.size(), records.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    EXPECT_EQ(records[i].question, raw[i].first);
    EXPECT_EQ(records[i].answer, raw[i].second);
  }
  // JSON escapes are decoded: the first question starts "Janet’s ducks" with a UTF-8 apostrophe.
  EXPECT_EQ(records[0].question.rfind("Janet\xE2\x80\x99s ducks lay 16 eggs per day.", 0), 0u);
  EXPECT_NE(records[0].answer.find("<<16-3-4=9>>"), std::string::npos);  // annotations kept
}

TEST(Gsm8kData, ExtractionGivesTheLabelOfEveryAnswer) {
  CPM_REQUIRE_SHARED();
  const auto raw = raw_records();
  ASSERT_EQ(raw.size(), 1319u);
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string expected = labelled_number(raw[i].second);
    ASSERT_FALSE(expected.empty());
    ASSERT_EQ(expected.find_first_not_of("0123456789"), std::string::npos) << expected;
    EXPECT_EQ(extract_answer(raw[i].second), Gsm8kAnswer(expected)) << "record " << i;
  }
  EXPECT_EQ(extract_answer(raw[0].second), Gsm8kAnswer("18"));
  EXPECT_EQ(extract_answer(raw[611].second), Gsm8kAnswer("1450000"));  // "#### 1,450,000"
  EXPECT_EQ(extract_answer(raw[489].second), Gsm8kAnswer("10"));       // "#### -10"
  EXPECT_EQ(extract_answer(raw[1113].second), Gsm8kAnswer("3"));       // "#### -3"
}

TEST(Gsm8kData, RejectsMissingAndMalformedFiles) {
  EXPECT_THROW(load_gsm8k("/nonexistent/test.jsonl"), Error);
  const std::string path = test::binary_dir() + "/gsm8k_malformed.jsonl";
  std::ofstream(path) << "{\"question\": \"q\", \"answer\": \"#### 1\"}\n{\"question\": 3}\n";
  try {
    load_gsm8k(path);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(path + ":2"), std::string::npos) << error.what();
  }
  std::filesystem::remove(path);
}

TEST(Gsm8kExtraction, EdgeCases) {
  EXPECT_EQ(extract_answer("-3"), Gsm8kAnswer("3"));
  EXPECT_EQ(extract_answer("2.5"), Gsm8kAnswer("5"));
  EXPECT_EQ(extract_answer("1,234"), Gsm8kAnswer("1234"));
  EXPECT_EQ(extract_answer("no digits here"), std::nullopt);
  EXPECT_EQ(extract_answer(""), std::nullopt);
  EXPECT_EQ(extract_answer(",,,"), std::nullopt);
  EXPECT_EQ(extract_answer("The answer is 42."), Gsm8kAnswer("42"));
  EXPECT_EQ(extract_answer("3 apples and 4 pears"), Gsm8kAnswer("4"));
  EXPECT_EQ(extract_answer("$1,000,000 in 2 years, total 12,a"), Gsm8kAnswer("12"));
  EXPECT_EQ(extract_answer("5, 6"), Gsm8kAnswer("6"));   // ", " removed to " ": two runs
  EXPECT_EQ(extract_answer("5,,6"), Gsm8kAnswer("56"));  // commas join the digits around them
  EXPECT_EQ(extract_answer("007"), Gsm8kAnswer("7"));
  EXPECT_EQ(extract_answer("0"), Gsm8kAnswer("0"));
  EXPECT_EQ(extract_answer("x 000"), Gsm8kAnswer("0"));
  EXPECT_EQ(extract_answer("\xD9\xA3"), std::nullopt);  // an Arabic-Indic three is not an ASCII digit
  // Runs longer than any machine integer still compare exactly.
  EXPECT_EQ(extract_answer("12345678901234567890123"), Gsm8kAnswer("12345678901234567890123"));
}

TEST(Gsm8kStops, CutBeforeTheEarliestStopString) {
  const auto& stops = gsm8k_stop_strings();
  ASSERT_EQ(stops, (std::vector<std::string>{"Question", "Assistant:", "<|separator|>"}));
  EXPECT_EQ(cut_at_stop(" 18\n\nQuestion: next", stops), " 18\n\n");
  EXPECT_EQ(cut_at_stop(" 7 Assistant: hi Question", stops), " 7 ");
  EXPECT_EQ(cut_at_stop("a<|separator|>b", stops), "a");
  EXPECT_EQ(cut_at_stop("Question", stops), "");
  EXPECT_EQ(cut_at_stop("no stop here. question (lower case)", stops), "no stop here. question (lower case)");
  EXPECT_EQ(cut_at_stop("Assistant without colon", stops), "Assistant without colon");
  EXPECT_EQ(cut_at_stop("abc", {}), "abc");
}

TEST(Gsm8kPrompt, FiveShotPromptMatchesTheProtocol) {
  CPM_REQUIRE_SHARED();
  const auto raw = raw_records();
  std::string expected;
  for (int shot = 0; shot < 5; ++shot) {
    expected.append("Question: ").append(raw[shot].first).append("\n");
    expected.append("Answer: ").append(raw[shot].second).append("\n").append("\n");
  }
  expected.append("Question: ").append(raw[7].first).append("\n").append("Answer:");

  const auto records = load_gsm8k(test_jsonl());
  const auto questions = build_gsm8k_questions(records, 5, 200, /*skip_shots=*/false);
  ASSERT_EQ(questions.size(), 200u);
  EXPECT_EQ(questions[7].index, 7);
  EXPECT_EQ(questions[7].prompt, expected);
  EXPECT_EQ(questions[7].label, Gsm8kAnswer(labelled_number(raw[7].second)));
  EXPECT_EQ(query_prompt(few_shot_block(records, 5), records[7]), expected);
  // No space after the final colon, and the shot block is shared by every prompt.
  EXPECT_EQ(questions[199].prompt.substr(questions[199].prompt.size() - 8), "\nAnswer:");
  const std::string block = expected.substr(0, expected.rfind("Question: "));
  for (const auto& question : questions) ASSERT_EQ(question.prompt.rfind(block, 0), 0u);
  // Query 0 is also the first shot: its answer is in its own prompt, as in the reference.
  EXPECT_NE(questions[0].prompt.find(raw[0].second), std::string::npos);
}

TEST(Gsm8kPrompt, WorkedExampleShapeForOneShot) {
  CPM_REQUIRE_SHARED();
  const auto records = load_gsm8k(test_jsonl());
  const auto questions = build_gsm8k_questions(records, 1, 1, false);
  ASSERT_EQ(questions.size(), 1u);
  // Question: <question 0> / Answer: <answer 0> / (blank) / Question: <question 0> / Answer:
  const std::vector<std::string> lines = {"Question: " + records[0].question, "Answer: " + records[0].answer,
                                          "", "Question: " + records[0].question, "Answer:"};
  std::string joined;
  for (size_t i = 0; i < lines.size(); ++i) joined += (i ? "\n" : "") + lines[i];
  EXPECT_EQ(questions[0].prompt, joined);
  EXPECT_EQ(questions[0].prompt.find("\r"), std::string::npos);
}

TEST(Gsm8kPrompt, SkipShotsAndLimits) {
  std::vector<Gsm8kRecord> records;
  for (int i = 0; i < 10; ++i)
    records.push_back({"q" + std::to_string(i), "a\n#### " + std::to_string(i * 11)});
  const auto skipped = build_gsm8k_questions(records, 3, 4, /*skip_shots=*/true);
  ASSERT_EQ(skipped.size(), 4u);
  EXPECT_EQ(skipped.front().index, 3);
  EXPECT_EQ(skipped.back().index, 6);
  EXPECT_EQ(skipped.front().label, Gsm8kAnswer("33"));
  EXPECT_EQ(skipped.front().prompt,
            "Question: q0\nAnswer: a\n#### 0\n\nQuestion: q1\nAnswer: a\n#### 11\n\n"
            "Question: q2\nAnswer: a\n#### 22\n\nQuestion: q3\nAnswer:");
  EXPECT_EQ(build_gsm8k_questions(records, 3, 100, true).size(), 7u);  // capped at the end of the data
  EXPECT_EQ(build_gsm8k_questions(records, 5, 100, false).size(), 10u);
  EXPECT_EQ(build_gsm8k_questions(records, 0, 2, false)[1].prompt, "Question: q1\nAnswer:");
  EXPECT_THROW(build_gsm8k_questions(records, 11, 1, false), Error);
  EXPECT_THROW(build_gsm8k_questions(records, 10, 1, true), Error);  // nothing left after the shots
}

}  // namespace
}  // namespace cpm
