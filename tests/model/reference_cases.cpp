#include "model/reference_cases.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/sequence_runner.h"

namespace cpm::test {
namespace {

int32_t argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, norm_a = 0, norm_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(norm_a * norm_b);
}

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

std::vector<int32_t> greedy_continue(SequenceRunner& runner, std::vector<float> logits, int count) {
  std::vector<int32_t> output;
  for (int i = 0; i < count; ++i) {
    output.push_back(argmax(logits));
    if (i + 1 < count) logits = runner.feed({output.back()});
  }
  return output;
}

std::vector<ReferenceCase> load_reference_cases(const std::string& path) {
  std::ifstream in(path);
  if (!in) ADD_FAILURE() << "cannot open " << path;
  const nlohmann::json root = nlohmann::json::parse(in);
  const nlohmann::json& list = root.is_object() ? root.at("cases") : root;
  std::vector<ReferenceCase> cases;
  for (const auto& item : list) {
    cases.push_back({item.at("prompt_ids").get<std::vector<int32_t>>(),
                     item.at("last_logits").get<std::vector<float>>(),
                     item.at("greedy_16").get<std::vector<int32_t>>()});
  }
  return cases;
}

void expect_matches_reference(MiniCPM3& model, const std::vector<ReferenceCase>& cases) {
  for (const ReferenceCase& reference : cases) {
    const int64_t length = static_cast<int64_t>(reference.prompt_ids.size());
    SCOPED_TRACE("prompt length " + std::to_string(length));
    SequenceRunner batched(model, length + 16);
    std::vector<float> logits = batched.feed(reference.prompt_ids);
    ASSERT_EQ(logits.size(), reference.last_logits.size());
    float worst = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      worst = std::max(worst, std::fabs(logits[i] - reference.last_logits[i]));
    EXPECT_LT(worst, kLogitTolerance);
    ::testing::Test::RecordProperty("max_error_len" + std::to_string(length), std::to_string(worst));
    EXPECT_EQ(greedy_continue(batched, logits, 16), reference.greedy);

    SequenceRunner stepwise(model, length + 16);
    for (int32_t id : reference.prompt_ids) logits = stepwise.feed({id});
    EXPECT_EQ(greedy_continue(stepwise, logits, 16), reference.greedy);
  }
}

}  // namespace cpm::test
