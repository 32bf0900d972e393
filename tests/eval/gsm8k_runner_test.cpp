// The whole GSM8K run against the fake server: scoring, stop-string cutting on the client, retries,
// the --parallel bound, both APIs, the API key and the JSONL output.
#include "eval/gsm8k_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "fake_server.h"
#include "test_paths.h"

namespace cpm {
namespace {

using nlohmann::json;

constexpr int kQuestions = 30;

std::string test_jsonl() {
  return test::shared_dir() + "/data/gsm8k/test.jsonl";
}

// Canned completions by question, five kinds in turn, and the outcome each must score as.
struct Scenario {
  test::FakeServerOptions server;
  int expected_correct = 0, expected_invalid = 0, expected_failed = 0;
};

Scenario make_scenario(const std::vector<Gsm8kRecord>& records) {
  Scenario scenario;
  for (int i = 0; i < kQuestions; ++i) {
    const std::string label = *extract_answer(records[i].answer);
    std::string& text = scenario.server.answers[records[i].question];
    switch (i % 5) {
      case 0:  // right, then a runaway next question with another number: must be cut off
        text = " She makes " + label + " dollars.\n\nQuestion: what is 999?";
        ++scenario.expected_correct;
        break;
      case 1:  // wrong
        text = " The answer is " + std::to_string(std::stoll(label) + 1) + ".";
        break;
      case 2:  // no number at all
        text = " I cannot tell.";
        ++scenario.expected_invalid;
        break;
      case 3:  // the reference's format, with a calculator annotation
        text = " 2 + 2 = <<2+2=4>>4\n#### " + label + "\n\nAssistant: 7";
        ++scenario.expected_correct;
        break;
      default:  // a sign is ignored by design
        text = " -" + label;
        ++scenario.expected_correct;
    }
  }
  // Question 8 (answered right) recovers on its third attempt; question 10 (right if answered) never does.
  scenario.server.failures[records[8].question] = 2;
  scenario.server.failures[records[10].question] = 100;
  --scenario.expected_correct;
  ++scenario.expected_invalid;
  ++scenario.expected_failed;
  // Question 12 (no number anyway) is refused with a 400, which is not worth retrying.
  scenario.server.rejected.insert(records[12].question);
  ++scenario.expected_failed;
  scenario.server.response_delay = std::chrono::milliseconds(60);
  return scenario;
}

Gsm8kOptions options_for(const test::FakeServer& server) {
  Gsm8kOptions options;
  options.base_url = server.base_url();
  options.data_path = test_jsonl();
  options.num_questions = kQuestions;
  options.parallel = 4;
  options.show_progress = false;
  options.http.retry_backoff = std::chrono::milliseconds(1);
  return options;
}

void expect_scores(const Gsm8kReport& report, const Scenario& scenario) {
  EXPECT_EQ(report.num_questions, kQuestions);
  EXPECT_EQ(report.correct, scenario.expected_correct);
  EXPECT_EQ(report.invalid, scenario.expected_invalid);
  EXPECT_EQ(report.failed, scenario.expected_failed);
  EXPECT_DOUBLE_EQ(report.accuracy, static_cast<double>(scenario.expected_correct) / kQuestions);
  EXPECT_DOUBLE_EQ(report.invalid_rate, static_cast<double>(scenario.expected_invalid) / kQuestions);
  int64_t tokens = 0;
  for (const auto& result : report.results) tokens += std::max<int64_t>(result.completion_tokens, 0);
  EXPECT_GT(tokens, 0);
  EXPECT_EQ(report.output_tokens, tokens);
  EXPECT_GT(report.latency_s, 0);
  EXPECT_DOUBLE_EQ(report.output_throughput, static_cast<double>(tokens) / report.latency_s);
}

TEST(Gsm8kRunner, NativeRunScoresRetriesAndBoundsParallelism) {
  CPM_REQUIRE_SHARED();
  const auto records = load_gsm8k(test_jsonl());
  const Scenario scenario = make_scenario(records);
  test::FakeServer server(scenario.server);
  const Gsm8kReport report = run_gsm8k(options_for(server));
  expect_scores(report, scenario);
  EXPECT_EQ(server.max_in_flight(), 4);  // --parallel 4, with every response taking 60 ms
  // 30 questions + 2 retries of question 8 + 3 retries of question 10
  EXPECT_EQ(server.completion_requests(), kQuestions + 2 + 3);

  const auto questions = build_gsm8k_questions(records, 5, kQuestions, false);
  ASSERT_EQ(report.results.size(), questions.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    EXPECT_EQ(report.results[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(report.results[i].prompt, questions[i].prompt);
  }
  EXPECT_EQ(report.results[0].output, " She makes 18 dollars.\n\n");  // cut before "Question"
  EXPECT_EQ(report.results[3].output.find("Assistant:"), std::string::npos);
  EXPECT_EQ(report.results[8].attempts, 3);
  EXPECT_FALSE(report.results[8].failed);
  EXPECT_EQ(report.results[10].attempts, 4);
  EXPECT_TRUE(report.results[10].failed);
  EXPECT_NE(report.results[10].error.find("50"), std::string::npos) << report.results[10].error;
  EXPECT_EQ(report.results[12].attempts, 1);
  EXPECT_TRUE(report.results[12].failed);
  EXPECT_NE(report.results[12].error.find("rejected prompt"), std::string::npos);

  // What was sent: the exact prompt, greedy, 512 tokens, the protocol's stop strings.
  for (const json& body : server.bodies()) {
    EXPECT_EQ(body["sampling_params"]["temperature"], 0.0);
    EXPECT_EQ(body["sampling_params"]["max_new_tokens"], 512);
    EXPECT_EQ(body["sampling_params"]["stop"], json({"Question", "Assistant:", "<|separator|>"}));
    EXPECT_FALSE(body["stream"].get<bool>());
  }
  bool found = false;
  for (const json& body : server.bodies()) found = found || body["text"] == questions[7].prompt;
  EXPECT_TRUE(found);
}

TEST(Gsm8kRunner, OpenAiRunWithApiKeyAndModelFromTheServer) {
  CPM_REQUIRE_SHARED();
  const auto records = load_gsm8k(test_jsonl());
  Scenario scenario = make_scenario(records);
  scenario.server.api_key = "k123";
  scenario.server.model = "served-name";
  test::FakeServer server(scenario.server);
  Gsm8kOptions options = options_for(server);
  options.backend = ApiBackend::kOpenAi;
  options.http.api_key = "k123";
  options.parallel = 7;
  const Gsm8kReport report = run_gsm8k(options);
  expect_scores(report, scenario);
  EXPECT_EQ(report.model, "served-name");
  EXPECT_LE(server.max_in_flight(), 7);
  for (const json& body : server.bodies()) {
    EXPECT_EQ(body["model"], "served-name");
    EXPECT_EQ(body["max_tokens"], 512);
    EXPECT_EQ(body["temperature"], 0.0);
  }
  for (const std::string& header : server.authorization_headers()) EXPECT_EQ(header, "Bearer k123");
  EXPECT_EQ(gsm8k_summary_json(report)["backend"], "openai");

  options.http.api_key = "wrong";  // GET /v1/models is refused: the run cannot start
  options.http.max_attempts = 1;
  EXPECT_THROW(run_gsm8k(options), Error);
}

TEST(Gsm8kRunner, SkipShotsAndOutputFile) {
  CPM_REQUIRE_SHARED();
  const auto records = load_gsm8k(test_jsonl());
  test::FakeServerOptions canned;
  for (int i = 0; i < 12; ++i)
    canned.answers[records[i].question] = " #### " + *extract_answer(records[i].answer);
  test::FakeServer server(canned);
  Gsm8kOptions options = options_for(server);
  options.num_questions = 4;
  options.skip_shots = true;
  const Gsm8kReport report = run_gsm8k(options);
  ASSERT_EQ(report.results.size(), 4u);
  EXPECT_EQ(report.results.front().index, 5);
  EXPECT_EQ(report.results.back().index, 8);
  EXPECT_EQ(report.correct, 4);

  const std::string path = test::binary_dir() + "/gsm8k_runner_output.jsonl";
  write_gsm8k_results(path, report);
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["index"], 5);
  EXPECT_EQ(lines[0]["prompt"], report.results[0].prompt);
  EXPECT_EQ(lines[0]["output"], " #### " + *extract_answer(records[5].answer));
  EXPECT_EQ(lines[0]["pred"], std::stoll(*extract_answer(records[5].answer)));
  EXPECT_EQ(lines[0]["label"], lines[0]["pred"]);
  EXPECT_EQ(lines[0]["correct"], true);

  const json summary = gsm8k_summary_json(report);
  for (const char* key : {"accuracy", "invalid_rate", "latency_s", "output_throughput", "failed_requests"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_NE(format_gsm8k_report(report).find("Accuracy: 1.000 (4/4)"), std::string::npos);
}

TEST(Gsm8kRunner, UnreachableServerCountsEveryQuestionAsFailed) {
  std::vector<Gsm8kQuestion> questions = {{0, "Question: a\nAnswer:", "1"}, {1, "Question: b\nAnswer:", "2"}};
  Gsm8kOptions options;
  options.show_progress = false;
  options.http.max_attempts = 2;
  options.http.retry_backoff = std::chrono::milliseconds(1);
  {
    test::FakeServer gone;  // only to find a loopback port that is closed afterwards
    options.base_url = gone.base_url();
  }
  const Gsm8kReport report = run_gsm8k_questions(options, questions);
  EXPECT_EQ(report.failed, 2);
  EXPECT_EQ(report.invalid, 2);
  EXPECT_EQ(report.correct, 0);
  EXPECT_EQ(report.results[1].attempts, 2);
  EXPECT_FALSE(report.results[1].error.empty());
  options.parallel = 0;
  EXPECT_THROW(run_gsm8k_questions(options, questions), Error);
  options.parallel = 1;
  options.base_url = "localhost:1";
  EXPECT_THROW(run_gsm8k_questions(options, questions), Error);
}

}  // namespace
}  // namespace cpm
