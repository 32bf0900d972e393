// The prompts of the serving benchmark: sglang's "random" dataset (random token prompts of random
// lengths) and the GSM8K few-shot prompts (long shared prefixes, as the accuracy test sends them).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "eval/gsm8k.h"

namespace cpm {

class Tokenizer;

struct BenchRequest {
  std::string prompt;              // a text prompt, or
  std::vector<int32_t> input_ids;  // the prompt as token ids (when no tokenizer is at hand)
  int64_t prompt_len = -1;         // tokens without special tokens; -1 = unknown until the server says
  int64_t output_len = 0;          // max_tokens, with ignore_eos so that all of them are generated
};

// sglang's bench_serving lengths: uniform integers in [max(floor(len * ratio), min_len), len], so
// ratio 1.0 means exactly `len` and the default 0.0 means anywhere in [min_len, len].
std::vector<int64_t> sample_lengths(int64_t len, double range_ratio, int64_t count, int64_t min_len,
                                    std::mt19937_64& random);

struct RandomDatasetOptions {
  int64_t num_prompts = 64;
  int64_t input_len = 512;
  int64_t output_len = 128;
  double range_ratio = 0.0;
};

// With a tokenizer: text prompts decoded from random ordinary tokens (no special or byte tokens),
// re-encoded and adjusted until they encode to the sampled length (or close to it after a few
// rounds; prompt_len is then the real count). Without one: random token ids in [0, vocab_size)
// sent as ids, so the length is exact for any tokenizer.
std::vector<BenchRequest> random_dataset(const RandomDatasetOptions& options, const Tokenizer* tokenizer,
                                         int32_t vocab_size, std::mt19937_64& random);

// The protocol's k-shot prompts of the first questions, repeated in order when more prompts than
// records are asked for. prompt_len comes from the tokenizer when one is given.
std::vector<BenchRequest> gsm8k_dataset(const std::vector<Gsm8kRecord>& records, int num_shots,
                                        const std::vector<int64_t>& output_lens, const Tokenizer* tokenizer);

}  // namespace cpm
