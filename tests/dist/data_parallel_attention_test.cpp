// Data-parallel attention in one process: two thread ranks joined by ThreadGroupCommunicator, each
// its own DP rank with all attention heads and its own KV cache, the MLP and vocabulary split, and
// the real leader/follower protocol. Logits and greedy outputs must match the whole model's, also in
// the steps where one DP rank has no tokens at all (the case that crashed the reference system):
// one request in flight for many steps, prefill on one rank while the other decodes, mixed batches
// and prefix-cache hits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <thread>

#include "dist/tensor_parallel_run.h"
#include "model/sequence_runner.h"
#include "runtime/data_parallel_scheduler.h"
#include "test_paths.h"
#include "thread_group_communicator.h"

namespace cpm {
namespace {

constexpr float kTolerance = 5e-4f;
constexpr int kRanks = 2;

std::string golden(const std::string& checkpoint) {
  return test::test_data_dir() + "/golden/" + checkpoint;
}

// Runs `leader(model)` on rank 0 of a data-parallel group of thread ranks; the others follow.
template <typename Leader>
void run_data_parallel(const std::string& dir, const std::string& backend, const Leader& leader) {
  test::ThreadGroup group(kRanks);
  std::vector<std::exception_ptr> errors(kRanks);
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < kRanks; ++rank) {
    ranks.emplace_back([&, rank] {
      try {
        test::ThreadGroupCommunicator communicator(group, rank);
        ThreadPool pool(1);
        WeightLoadOptions options;
        options.tp_rank = rank;
        options.tp_size = kRanks;
        options.dp_attention = true;
        MiniCPM3 model(ModelWeights::load(dir, options), ModelOptions{0, backend, &communicator, true}, pool);
        EXPECT_EQ(model.data_parallel_size(), kRanks);
        EXPECT_EQ(model.shard().heads.size(), model.config().num_attention_heads)
            << "every rank has all heads";
        run_tensor_parallel(&communicator, model, [&] {
          leader(model);
          return 0;
        });
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (std::thread& rank : ranks) rank.join();
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

float largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// A prompt's logits at every position, then greedy decode steps: with SequenceRunner all of it is
// DP rank 0's, and rank 1 runs every step with an empty batch.
std::vector<float> prompt_then_greedy(MiniCPM3& model) {
  const std::vector<int32_t> prompt = {1, 17, 42, 5, 99, 3, 250, 7};
  SequenceRunner runner(model, static_cast<int64_t>(prompt.size()) + 6);
  std::vector<float> all = runner.feed(prompt, true);
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> last(all.end() - vocab, all.end());
  for (int step = 0; step < 6; ++step) {
    const auto next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    last = runner.feed({next});
    all.insert(all.end(), last.begin(), last.end());
  }
  return all;
}

class DataParallelForwardTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(DataParallelForwardTest, MatchesWholeModelWithAnEmptyRank) {
  const auto& [checkpoint, backend] = GetParam();
  ThreadPool pool(1);
  MiniCPM3 whole(ModelWeights::load(golden(checkpoint)), ModelOptions{0, backend}, pool);
  const std::vector<float> expected = prompt_then_greedy(whole);
  std::vector<float> data_parallel;
  run_data_parallel(golden(checkpoint), backend,
                    [&](MiniCPM3& model) { data_parallel = prompt_then_greedy(model); });
  EXPECT_LE(largest_difference(expected, data_parallel), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Golden, DataParallelForwardTest,
                         ::testing::Combine(::testing::Values("tiny-a", "tiny-c"),
                                            ::testing::Values("latent", "materialized")));

// ---- The scheduler over two DP ranks against one process ----

struct Result {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // chosen token's and the top 5: witnesses of the logits
  std::string finish_reason;
  int64_t cached_tokens = 0;
};

std::vector<int32_t> prompt_of(int64_t length, int32_t seed) {
  std::vector<int32_t> ids(length);
  for (int64_t i = 0; i < length; ++i) ids[i] = static_cast<int32_t>((seed * 131 + i * 37 + i * i) % 512);
  return ids;
}

EngineRequest request_of(const std::string& id, std::vector<int32_t> prompt, int32_t max_new) {
  EngineRequest request;
  request.id = id;
  request.input_ids = std::move(prompt);
  request.params.temperature = 0;
  request.params.max_new_tokens = max_new;
  request.params.ignore_eos = true;
  request.params.return_logprob = true;
  request.params.top_logprobs = 5;
  return request;
}

SchedulerOptions small_steps() {
  SchedulerOptions options;
  options.max_total_tokens = 512;
  options.chunked_prefill_size = 8;  // a 20-token prompt takes three steps
  return options;
}

// Requests added to a scheduler, and their results once finished.
template <typename SchedulerType>
class Driver {
 public:
  explicit Driver(SchedulerType& scheduler) : scheduler_(scheduler) {}
  void add(EngineRequest request) {
    auto stream = std::make_shared<RequestStream>();
    streams_[request.id] = stream;
    scheduler_.add(std::move(request), stream);
  }
  std::map<std::string, Result> results() {
    std::map<std::string, Result> out;
    for (auto& [id, stream] : streams_) {
      const OutputChunk all = stream->wait_all();
      Result& result = out[id];
      result = {all.token_ids, {}, all.finish_reason, all.cached_tokens};
      for (const SampledToken& token : all.logprobs) {
        result.logprobs.push_back(token.logprob);
        for (const TokenLogprob& other : token.top_logprobs) result.logprobs.push_back(other.logprob);
      }
    }
    return out;
  }

 private:
  SchedulerType& scheduler_;
  std::map<std::string, std::shared_ptr<RequestStream>> streams_;
};

// What each DP rank did over a run of steps.
struct StepCounts {
  int only_rank0 = 0, only_rank1 = 0, both = 0;
};

StepCounts step_until_idle(DataParallelScheduler& scheduler) {
  StepCounts counts;
  for (int guard = 0; !scheduler.idle() && guard < 10000; ++guard) {
    const bool busy0 = !scheduler.rank(0).idle(), busy1 = !scheduler.rank(1).idle();
    counts.only_rank0 += busy0 && !busy1;
    counts.only_rank1 += busy1 && !busy0;
    counts.both += busy0 && busy1;
    scheduler.step();
  }
  return counts;
}

void step_times(DataParallelScheduler& scheduler, int steps) {
  for (int i = 0; i < steps; ++i) scheduler.step();
}

// The requests of the scenario below, in the order they are added.
std::vector<EngineRequest> scenario_requests() {
  return {request_of("alone", prompt_of(12, 1), 30),     request_of("decoding", prompt_of(6, 2), 20),
          request_of("prefilling", prompt_of(20, 3), 4), request_of("cache-hit", prompt_of(20, 3), 40),
          request_of("mixed-0", prompt_of(3, 4), 5),     request_of("mixed-1", prompt_of(17, 5), 9),
          request_of("mixed-2", prompt_of(9, 6), 12),    request_of("mixed-3", prompt_of(12, 1), 7),
          request_of("mixed-4", prompt_of(25, 7), 6)};
}

// Drives two DP ranks through: one request alone for many steps (rank 1 empty throughout); a prompt
// prefilling on rank 1 while rank 0 decodes; a prefix-cache hit on rank 1 that then decodes alone
// (rank 0 empty); a mixed batch spread over both ranks.
std::map<std::string, Result> run_scenario(MiniCPM3& model) {
  DataParallelScheduler scheduler(model, nullptr, small_steps());
  EXPECT_EQ(scheduler.size(), kRanks);
  Driver<DataParallelScheduler> driver(scheduler);
  std::vector<EngineRequest> requests = scenario_requests();
  driver.add(requests[0]);
  const StepCounts alone = step_until_idle(scheduler);
  EXPECT_GE(alone.only_rank0, 30) << "one request in flight: rank 1 has no tokens for many steps";
  EXPECT_EQ(alone.only_rank1 + alone.both, 0);

  driver.add(requests[1]);  // both ranks idle: rank 0
  step_times(scheduler, 2);
  driver.add(requests[2]);  // rank 1 has less load
  EXPECT_FALSE(scheduler.rank(1).idle());
  step_times(scheduler, 7);  // three prefill steps on rank 1 beside rank 0's decoding, four decodes
  EXPECT_TRUE(scheduler.rank(1).idle()) << "prefilling finished";
  driver.add(requests[3]);  // the same prompt, on rank 1 again, where its prefix is cached
  const StepCounts mixed_ranks = step_until_idle(scheduler);
  EXPECT_GT(mixed_ranks.both, 0);
  EXPECT_GT(mixed_ranks.only_rank1, 10) << "rank 0 has no tokens once its request finished";

  for (size_t i = 4; i < requests.size(); ++i) driver.add(requests[i]);
  EXPECT_FALSE(scheduler.rank(0).idle());
  EXPECT_FALSE(scheduler.rank(1).idle());
  step_until_idle(scheduler);
  EXPECT_GT(scheduler.counters().cached_prompt_tokens, 0);
  return driver.results();
}

// The same requests in one process, all at once (outputs do not depend on batching).
std::map<std::string, Result> run_whole(const std::string& dir, const std::string& backend) {
  ThreadPool pool(1);
  MiniCPM3 model(ModelWeights::load(dir), ModelOptions{0, backend}, pool);
  Scheduler scheduler(model, nullptr, small_steps());
  Driver<Scheduler> driver(scheduler);
  for (EngineRequest& request : scenario_requests()) driver.add(std::move(request));
  while (scheduler.step()) {
  }
  return driver.results();
}

class DataParallelSchedulerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DataParallelSchedulerTest, MatchesOneProcessWithEmptyRanksPrefillAndCacheHits) {
  const std::string dir = golden("tiny-c"), backend = GetParam();
  const std::map<std::string, Result> expected = run_whole(dir, backend);
  std::map<std::string, Result> actual;
  run_data_parallel(dir, backend, [&](MiniCPM3& model) { actual = run_scenario(model); });
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [id, result] : expected) {
    SCOPED_TRACE(id);
    const Result& got = actual.at(id);
    EXPECT_EQ(got.finish_reason, result.finish_reason);
    EXPECT_EQ(got.tokens, result.tokens);
    EXPECT_LE(largest_difference(result.logprobs, got.logprobs), kTolerance);
  }
  EXPECT_EQ(actual.at("cache-hit").cached_tokens, 19) << "all but the last prompt token from rank 1's cache";
}

INSTANTIATE_TEST_SUITE_P(Backends, DataParallelSchedulerTest, ::testing::Values("latent", "materialized"));

TEST(DataParallelScheduler, OneRankIsThePlainScheduler) {
  ThreadPool pool(1);
  MiniCPM3 model(ModelWeights::load(golden("tiny-c")), ModelOptions{}, pool);
  DataParallelScheduler scheduler(model, nullptr, small_steps());
  EXPECT_EQ(scheduler.size(), 1);
  EXPECT_EQ(scheduler.kv_capacity_tokens(), 512);
}

}  // namespace
}  // namespace cpm
