#include "eval/bench_dataset.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace cpm {

namespace {

// "<0xAB>": a byte-fallback piece, which alone decodes to a stray byte rather than text.
bool is_byte_piece(const std::string& piece) {
  return piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>';
}

std::vector<int32_t> ordinary_tokens(const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (!tokenizer.is_special(id) && !is_byte_piece(tokenizer.id_to_token(id))) ids.push_back(id);
  }
  if (ids.empty()) fail("the tokenizer has no ordinary tokens to build random prompts from");
  return ids;
}

void append_random(const std::vector<int32_t>& pool, size_t count, std::mt19937_64& random,
                   std::vector<int32_t>* ids) {
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  for (size_t i = 0; i < count; ++i) ids->push_back(pool[pick(random)]);
}

int64_t token_count(const Tokenizer& tokenizer, const std::string& text) {
  return static_cast<int64_t>(tokenizer.encode(text, /*add_special_tokens=*/false).size());
}

// Decoding random tokens and encoding the text again rarely gives the same tokens (neighbours
// merge); trim or top up the re-encoded ids a few times until the text has the wanted length.
BenchRequest random_text_prompt(const Tokenizer& tokenizer, const std::vector<int32_t>& pool, int64_t len,
                                std::mt19937_64& random) {
  std::vector<int32_t> ids;
  append_random(pool, static_cast<size_t>(len), random, &ids);
  BenchRequest request;
  request.prompt = tokenizer.decode(ids);
  request.prompt_len = token_count(tokenizer, request.prompt);
  for (int round = 0; round < 4 && request.prompt_len != len; ++round) {
    ids = tokenizer.encode(request.prompt, /*add_special_tokens=*/false);
    if (static_cast<int64_t>(ids.size()) > len) {
      ids.resize(static_cast<size_t>(len));
    } else {
      append_random(pool, static_cast<size_t>(len) - ids.size(), random, &ids);
    }
    request.prompt = tokenizer.decode(ids);
    request.prompt_len = token_count(tokenizer, request.prompt);
  }
  return request;
}

}  // namespace

std::vector<int64_t> sample_lengths(int64_t len, double range_ratio, int64_t count, int64_t min_len,
                                    std::mt19937_64& random) {
  const int64_t high = std::max(len, min_len);
  const int64_t low =
      std::clamp(static_cast<int64_t>(std::floor(static_cast<double>(len) * range_ratio)), min_len, high);
  std::uniform_int_distribution<int64_t> pick(low, high);
  std::vector<int64_t> lengths(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t& length : lengths) length = pick(random);
  return lengths;
}

std::vector<BenchRequest> random_dataset(const RandomDatasetOptions& options, const Tokenizer* tokenizer,
                                         int32_t vocab_size, std::mt19937_64& random) {
  if (options.input_len < 1 || options.output_len < 1) fail("random input and output lengths must be >= 1");
  if (options.range_ratio < 0 || options.range_ratio > 1) fail("--random-range-ratio must be in [0, 1]");
  if (tokenizer == nullptr && vocab_size < 1) fail("random token ids need a vocabulary size");
  const auto input_lens =
      sample_lengths(options.input_len, options.range_ratio, options.num_prompts, 1, random);
  // sglang allows 0 output tokens here; a request must generate at least one to be timed.
  const auto output_lens =
      sample_lengths(options.output_len, options.range_ratio, options.num_prompts, 1, random);
  const std::vector<int32_t> pool =
      tokenizer != nullptr ? ordinary_tokens(*tokenizer) : std::vector<int32_t>{};
  std::uniform_int_distribution<int32_t> any_id(0, std::max(vocab_size, 1) - 1);
  std::vector<BenchRequest> requests;
  for (size_t i = 0; i < input_lens.size(); ++i) {
    BenchRequest request;
    if (tokenizer != nullptr) {
      request = random_text_prompt(*tokenizer, pool, input_lens[i], random);
    } else {
      for (int64_t t = 0; t < input_lens[i]; ++t) request.input_ids.push_back(any_id(random));
      request.prompt_len = input_lens[i];
    }
    request.output_len = output_lens[i];
    requests.push_back(std::move(request));
  }
  return requests;
}

std::vector<BenchRequest> gsm8k_dataset(const std::vector<Gsm8kRecord>& records, int num_shots,
                                        const std::vector<int64_t>& output_lens, const Tokenizer* tokenizer) {
  const auto questions = build_gsm8k_questions(records, num_shots, static_cast<int64_t>(output_lens.size()),
                                               /*skip_shots=*/false);
  std::vector<BenchRequest> requests;
  for (size_t i = 0; i < output_lens.size(); ++i) {
    BenchRequest request;
    request.prompt = questions[i % questions.size()].prompt;
    if (tokenizer != nullptr) request.prompt_len = token_count(*tokenizer, request.prompt);
    request.output_len = output_lens[i];
    requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace cpm
