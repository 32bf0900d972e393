#include "eval/gsm8k.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace cpm {

namespace {

bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}

Gsm8kRecord parse_record(const std::string& line, const std::string& path, int64_t line_number) {
  const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const char* why) { fail(path, ":", line_number, ": ", why); };
  if (object.is_discarded()) bad("not a JSON object");
  if (!object.is_object()) bad("not a JSON object");
  for (const char* key : {"question", "answer"}) {
    if (!object.contains(key) || !object[key].is_string()) bad("needs string fields question and answer");
  }
  return {object["question"].get<std::string>(), object["answer"].get<std::string>()};
}

}  // namespace

std::vector<Gsm8kRecord> load_gsm8k(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open GSM8K data ", path);
  std::vector<Gsm8kRecord> records;
  std::string line;
  for (int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    records.push_back(parse_record(line, path, line_number));
  }
  if (in.bad()) fail("error reading ", path);
  if (records.empty()) fail("GSM8K data ", path, " has no records");
  return records;
}

// Scanning backwards for the last digit run is the same as the reference's findall()[-1] on the
// text with commas removed: a comma never ends a run, it just joins the digits around it.
Gsm8kAnswer extract_answer(std::string_view text) {
  std::string run;
  size_t i = text.size();
  while (i > 0 && !is_ascii_digit(text[i - 1])) --i;
  if (i == 0) return std::nullopt;
  for (; i > 0 && (is_ascii_digit(text[i - 1]) || text[i - 1] == ','); --i) {
    if (text[i - 1] != ',') run.push_back(text[i - 1]);
  }
  std::reverse(run.begin(), run.end());
  const size_t first_nonzero = run.find_first_not_of('0');
  return first_nonzero == std::string::npos ? "0" : run.substr(first_nonzero);
}

const std::vector<std::string>& gsm8k_stop_strings() {
  static const std::vector<std::string> stops = {"Question", "Assistant:", "<|separator|>"};
  return stops;
}

std::string cut_at_stop(std::string_view text, const std::vector<std::string>& stops) {
  size_t cut = text.size();
  for (const std::string& stop : stops) {
    if (!stop.empty()) cut = std::min(cut, text.find(stop));
  }
  return std::string(text.substr(0, cut));
}

std::string few_shot_block(const std::vector<Gsm8kRecord>& records, int num_shots) {
  std::string block;
  for (int i = 0; i < num_shots; ++i) {
    block += "Question: " + records[i].question + "\nAnswer: " + records[i].answer + "\n\n";
  }
  return block;
}

std::string query_prompt(const std::string& shot_block, const Gsm8kRecord& record) {
  return shot_block + "Question: " + record.question + "\nAnswer:";
}

std::vector<Gsm8kQuestion> build_gsm8k_questions(const std::vector<Gsm8kRecord>& records, int num_shots,
                                                 int64_t num_questions, bool skip_shots) {
  const int64_t available = static_cast<int64_t>(records.size());
  if (num_shots < 0 || num_shots > available) {
    fail("--num-shots ", num_shots, " must be between 0 and the ", available, " records");
  }
  const int64_t first = skip_shots ? num_shots : 0;
  const int64_t end = std::min(available, first + std::max<int64_t>(num_questions, 0));
  if (end <= first) fail("no GSM8K questions to ask (", available, " records, first question ", first, ")");
  const std::string block = few_shot_block(records, num_shots);
  std::vector<Gsm8kQuestion> questions;
  questions.reserve(static_cast<size_t>(end - first));
  for (int64_t i = first; i < end; ++i) {
    questions.push_back({i, query_prompt(block, records[i]), extract_answer(records[i].answer)});
  }
  return questions;
}

}  // namespace cpm
