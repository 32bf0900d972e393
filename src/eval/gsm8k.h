// GSM8K few-shot evaluation, exactly as the reference test does it (docs: gsm8k-protocol.md): the
// shot block, the query prompts, the stop strings and the answer extraction used for scoring.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

struct Gsm8kRecord {
  std::string question;
  std::string answer;  // worked solution ending with "#### N", calculator annotations kept
};

// One JSON object per line with string fields "question" and "answer". Throws cpm::Error naming the
// file (and line) when it cannot be read or a line is malformed.
std::vector<Gsm8kRecord> load_gsm8k(const std::string& path);

// An extracted answer: the last run of ASCII digits as a decimal integer without leading zeros
// ("0" for a run of zeros), or nullopt for INVALID. Kept as text so that a run of any length
// compares exactly, as the reference's Python integers do.
using Gsm8kAnswer = std::optional<std::string>;

// Removes every ',', finds the maximal runs of [0-9] and returns the last one. Signs and decimals
// are ignored by design: "-3" -> 3, "2.5" -> 5, "1,234" -> 1234, no digits -> INVALID.
Gsm8kAnswer extract_answer(std::string_view text);

// The stop strings of the protocol: "Question", "Assistant:", "<|separator|>".
const std::vector<std::string>& gsm8k_stop_strings();

// `text` up to (not including) the earliest occurrence of any stop string; all of it if none occurs.
std::string cut_at_stop(std::string_view text, const std::vector<std::string>& stops);

// "Question: " + question + "\nAnswer: " + answer + "\n\n" for each of the first k records.
std::string few_shot_block(const std::vector<Gsm8kRecord>& records, int num_shots);

// shot_block + "Question: " + question + "\nAnswer:" (no space after the final colon).
std::string query_prompt(const std::string& shot_block, const Gsm8kRecord& record);

struct Gsm8kQuestion {
  int64_t index;  // record number in the data file, from 0
  std::string prompt;
  Gsm8kAnswer label;
};

// Questions 0 .. n-1 (or k .. k+n-1 with skip_shots), capped at the end of the data. Throws
// cpm::Error when num_shots exceeds the records or no question is left.
std::vector<Gsm8kQuestion> build_gsm8k_questions(const std::vector<Gsm8kRecord>& records, int num_shots,
                                                 int64_t num_questions, bool skip_shots);

}  // namespace cpm
