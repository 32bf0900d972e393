// The serving benchmark: sglang's length sampling, the datasets, Poisson arrivals, and whole runs
// against the fake server (streamed timing, concurrency bound, failures, the report).
#include "eval/serving_benchmark.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.h"
#include "fake_server.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace cpm {
namespace {

using nlohmann::json;

ServingBenchOptions bench_options(const test::FakeServer& server) {
  ServingBenchOptions options;
  options.base_url = server.base_url();
  options.random.num_prompts = 12;
  options.random.input_len = 40;
  options.random.output_len = 8;
  options.random.range_ratio = 1.0;  // exact lengths
  options.max_concurrency = 3;
  options.show_progress = false;
  return options;
}

TEST(BenchDataset, SampleLengthsFollowSglang) {
  std::mt19937_64 random(7);
  const auto exact = sample_lengths(100, 1.0, 50, 1, random);
  EXPECT_TRUE(std::all_of(exact.begin(), exact.end(), [](int64_t n) { return n == 100; }));
  const auto wide = sample_lengths(100, 0.0, 2000, 1, random);  // sglang's default ratio: [1, 100]
  EXPECT_EQ(*std::min_element(wide.begin(), wide.end()), 1);
  EXPECT_EQ(*std::max_element(wide.begin(), wide.end()), 100);
  const auto half = sample_lengths(100, 0.5, 2000, 1, random);  // [50, 100]
  EXPECT_EQ(*std::min_element(half.begin(), half.end()), 50);
  EXPECT_EQ(*std::max_element(half.begin(), half.end()), 100);
  std::mt19937_64 a(3), b(3);
  EXPECT_EQ(sample_lengths(64, 0.25, 10, 1, a), sample_lengths(64, 0.25, 10, 1, b));
}

TEST(BenchDataset, RandomTokenIdsWithoutATokenizer) {
  std::mt19937_64 random(1);
  RandomDatasetOptions options{.num_prompts = 20, .input_len = 30, .output_len = 5, .range_ratio = 0.5};
  const auto requests = random_dataset(options, nullptr, 500, random);
  ASSERT_EQ(requests.size(), 20u);
  std::set<int64_t> lengths;
  for (const BenchRequest& request : requests) {
    EXPECT_TRUE(request.prompt.empty());
    EXPECT_EQ(static_cast<int64_t>(request.input_ids.size()), request.prompt_len);
    EXPECT_GE(request.prompt_len, 15);
    EXPECT_LE(request.prompt_len, 30);
    EXPECT_GE(request.output_len, 2);
    EXPECT_LE(request.output_len, 5);
    for (int32_t id : request.input_ids) ASSERT_TRUE(id >= 0 && id < 500);
    lengths.insert(request.prompt_len);
  }
  EXPECT_GT(lengths.size(), 3u);
  options.range_ratio = 2;
  EXPECT_THROW(random_dataset(options, nullptr, 500, random), Error);
  options.range_ratio = 1;
  EXPECT_THROW(random_dataset(options, nullptr, 0, random), Error);
}

TEST(BenchDataset, RandomTextPromptsWithTheMiniCpm3Tokenizer) {
  CPM_REQUIRE_SHARED();
  const Tokenizer tokenizer = Tokenizer::load(test::shared_dir() + "/data/minicpm3-4b");
  std::mt19937_64 random(11);
  const RandomDatasetOptions options{
      .num_prompts = 16, .input_len = 200, .output_len = 4, .range_ratio = 1.0};
  const auto requests = random_dataset(options, &tokenizer, tokenizer.vocab_size(), random);
  int exact = 0;
  for (const BenchRequest& request : requests) {
    EXPECT_TRUE(request.input_ids.empty());
    EXPECT_FALSE(request.prompt.empty());
    EXPECT_EQ(request.prompt_len, static_cast<int64_t>(tokenizer.encode(request.prompt, false).size()));
    EXPECT_NEAR(static_cast<double>(request.prompt_len), 200.0, 4.0);
    exact += request.prompt_len == 200 ? 1 : 0;
    EXPECT_EQ(request.output_len, 4);
  }
  EXPECT_GE(exact, 12) << "most prompts should encode to exactly the sampled length";
}

TEST(BenchDataset, Gsm8kPromptsAreTheProtocolPrompts) {
  std::vector<Gsm8kRecord> records;
  for (int i = 0; i < 6; ++i) records.push_back({"q" + std::to_string(i), "a #### " + std::to_string(i)});
  const auto requests = gsm8k_dataset(records, 2, {7, 7, 7, 7, 7, 7, 7, 7}, nullptr);
  ASSERT_EQ(requests.size(), 8u);
  const auto questions = build_gsm8k_questions(records, 2, 6, false);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].prompt, questions[i % 6].prompt);  // repeated past the end of the data
    EXPECT_EQ(requests[i].prompt_len, -1);                   // unknown without a tokenizer
    EXPECT_EQ(requests[i].output_len, 7);
  }
}

TEST(PoissonArrivals, SeededExponentialGaps) {
  EXPECT_EQ(poisson_arrival_times(4, std::numeric_limits<double>::infinity(), 1),
            std::vector<double>(4, 0.0));
  const auto times = poisson_arrival_times(20001, 8.0, 42);
  EXPECT_EQ(times[0], 0.0);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_NEAR(times.back() / 20000.0, 1.0 / 8.0, 0.005);  // mean gap 1/rate
  EXPECT_EQ(times, poisson_arrival_times(20001, 8.0, 42));
  EXPECT_NE(times, poisson_arrival_times(20001, 8.0, 43));
}

TEST(ServingBenchmark, NativeStreamingRunTimesTokensAndBoundsConcurrency) {
  test::FakeServerOptions slow;
  slow.token_delay = std::chrono::milliseconds(3);
  slow.response_delay = std::chrono::milliseconds(50);
  test::FakeServer server(slow);
  const ServingBenchReport report = run_serving_benchmark(bench_options(server));
  EXPECT_EQ(report.completed, 12);
  EXPECT_EQ(report.failed, 0);
  EXPECT_EQ(report.total_input_tokens, 12 * 40);  // the server's prompt_tokens
  EXPECT_EQ(report.total_output_tokens, 12 * 8);
  EXPECT_EQ(server.max_in_flight(), 3);
  EXPECT_EQ(server.completion_requests(), 13);  // one warm-up request first
  EXPECT_EQ(report.itl.count, 12u * 7u);        // one gap per token after the first
  EXPECT_GE(report.itl.median, 0.002);
  EXPECT_GT(report.ttft.mean, 0);
  EXPECT_GE(report.e2e.min, 7 * 0.003);
  EXPECT_GE(report.e2e.median, report.ttft.median);
  EXPECT_NEAR(report.output_throughput, 96 / report.duration_s, 1e-9);
  EXPECT_NEAR(report.request_throughput, 12 / report.duration_s, 1e-9);
  EXPECT_GT(report.concurrency, 1.0);
  EXPECT_LE(report.concurrency, 3.0 + 1e-9);
  for (const json& body : server.bodies()) {  // random token ids in the vocabulary the server reports
    EXPECT_TRUE(body["stream"].get<bool>());
    EXPECT_TRUE(body["sampling_params"]["ignore_eos"].get<bool>());
    EXPECT_EQ(body["sampling_params"]["temperature"], 0.0);
    ASSERT_EQ(body["input_ids"].size(), 40u);
    for (const json& id : body["input_ids"]) EXPECT_LT(id.get<int>(), 1000);
  }
  EXPECT_EQ(server.bodies().front()["sampling_params"]["max_new_tokens"], 8);
}

TEST(ServingBenchmark, OpenAiStreamingWithAndWithoutUsage) {
  for (const bool usage : {true, false}) {
    test::FakeServerOptions fake;
    fake.report_usage = usage;
    fake.token_delay = std::chrono::milliseconds(1);
    fake.response_delay = std::chrono::milliseconds(300);  // so that all 12 overlap
    test::FakeServer server(fake);
    ServingBenchOptions options = bench_options(server);
    options.backend = ApiBackend::kOpenAi;
    options.max_concurrency = 0;  // unbounded: every request at once
    options.warmup_requests = 0;
    const ServingBenchReport report = run_serving_benchmark(options);
    EXPECT_EQ(report.model, "fake-model");
    EXPECT_EQ(report.completed, 12) << report.requests[0].error;
    // Without usage, output tokens are the content chunks and prompt tokens the dataset's count.
    EXPECT_EQ(report.total_output_tokens, 12 * 8);
    EXPECT_EQ(report.total_input_tokens, 12 * 40);
    EXPECT_EQ(report.requests[0].output_len_reported, usage);
    EXPECT_EQ(report.requests[0].text, "w0 w1 w2 w3 w4 w5 w6 w7 ");
    EXPECT_EQ(server.max_in_flight(), 12);
    EXPECT_TRUE(server.bodies()[0]["stream_options"]["include_usage"].get<bool>());
  }
}

TEST(ServingBenchmark, RequestRateSpacesArrivals) {
  test::FakeServer server;
  ServingBenchOptions options = bench_options(server);
  options.request_rate = 40;
  options.max_concurrency = 0;
  options.random.num_prompts = 10;
  const ServingBenchReport report = run_serving_benchmark(options);
  EXPECT_EQ(report.completed, 10);
  const auto arrivals = poisson_arrival_times(10, 40, options.seed);
  EXPECT_GE(report.duration_s, arrivals.back());
  EXPECT_EQ(serving_report_json(report)["request_rate"], 40.0);
}

TEST(ServingBenchmark, Gsm8kDatasetCountsFailedRequests) {
  CPM_REQUIRE_SHARED();
  const auto records = load_gsm8k(test::shared_dir() + "/data/gsm8k/test.jsonl");
  test::FakeServerOptions flaky;
  flaky.failures[records[2].question] = 1000;  // the benchmark does not retry
  test::FakeServer server(flaky);
  ServingBenchOptions options = bench_options(server);
  options.dataset = "gsm8k";
  options.data_path = test::shared_dir() + "/data/gsm8k/test.jsonl";
  options.random.num_prompts = 4;
  const ServingBenchReport report = run_serving_benchmark(options);
  EXPECT_EQ(report.completed, 3);
  EXPECT_EQ(report.failed, 1);
  EXPECT_FALSE(report.requests[2].success);
  EXPECT_NE(report.requests[2].error.find("50"), std::string::npos) << report.requests[2].error;
  EXPECT_EQ(report.total_output_tokens, 3 * 8);
  const auto questions = build_gsm8k_questions(records, 5, 4, false);
  EXPECT_EQ(server.bodies().back()["text"].get<std::string>().substr(0, 200),
            questions[0].prompt.substr(0, 200));

  const json out = serving_report_json(report);
  for (const char* key :
       {"duration_s", "completed", "failed", "request_throughput", "input_throughput", "output_throughput",
        "ttft_mean_ms", "ttft_median_ms", "ttft_p99_ms", "itl_mean_ms", "itl_median_ms", "itl_p99_ms",
        "e2e_latency_mean_ms", "e2e_latency_median_ms", "e2e_latency_p99_ms"}) {
    EXPECT_TRUE(out.contains(key)) << key;
  }
  EXPECT_EQ(out["errors"].size(), 4u);
  const std::string table = format_serving_report(report);
  EXPECT_NE(table.find("Failed requests:"), std::string::npos);
  EXPECT_NE(table.find("Median TTFT (ms):"), std::string::npos);
  EXPECT_NE(table.find("P99 ITL (ms):"), std::string::npos);

  flaky.failures[records[0].question] = 1000;  // the warm-up request fails: no run
  test::FakeServer broken(flaky);
  options.base_url = broken.base_url();
  EXPECT_THROW(run_serving_benchmark(options), Error);
}

TEST(ServingBenchmark, RejectsBadOptions) {
  ServingBenchOptions options;
  options.show_progress = false;
  options.request_rate = 0;
  EXPECT_THROW(run_serving_benchmark(options), Error);
  options.request_rate = 1;
  options.random.num_prompts = 0;
  EXPECT_THROW(run_serving_benchmark(options), Error);
  options.random.num_prompts = 1;
  options.dataset = "sharegpt";
  options.tokenizer_path = "";
  options.base_url = "http://127.0.0.1:1";
  EXPECT_THROW(run_serving_benchmark(options), Error);
}

}  // namespace
}  // namespace cpm
