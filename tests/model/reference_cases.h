// Reference logit cases (the golden format: prompt ids, last-position logits, 16 greedy tokens) and
// the checks every checkpoint with such cases goes through.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/sequence_runner.h"

namespace cpm::test {

constexpr float kLogitTolerance = 5e-4f;

struct ReferenceCase {
  std::vector<int32_t> prompt_ids;
  std::vector<float> last_logits;
  std::vector<int32_t> greedy;
};

// Reads a cases.json file (a list, or an object whose "cases" is the list).
std::vector<ReferenceCase> load_reference_cases(const std::string& path);

// Cosine similarity of two logit vectors of the same length (in double).
double cosine(const std::vector<float>& a, const std::vector<float>& b);

// The largest absolute difference between two logit vectors (a gtest expectation that their sizes match).
float max_difference(const std::vector<float>& a, const std::vector<float>& b);

// `count` greedy tokens: the argmax of `logits`, then of the logits each token fed to `runner` gives.
std::vector<int32_t> greedy_continue(SequenceRunner& runner, std::vector<float> logits, int count);

// Runs every case through `model` with the prompt in one step and one token at a time: last logits
// within kLogitTolerance, greedy continuations token for token (gtest expectations).
void expect_matches_reference(MiniCPM3& model, const std::vector<ReferenceCase>& cases);

}  // namespace cpm::test
