#include "tokenizer/normalizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace cpm {

namespace {

std::string replace_all(std::string_view text, const std::string& pattern, const std::string& content) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  size_t at = 0;
  for (size_t found; (found = text.find(pattern, at)) != std::string_view::npos;
       at = found + pattern.size()) {
    out.append(text, at, found - at);
    out += content;
  }
  out.append(text, at);
  return out;
}

}  // namespace

Normalizer Normalizer::from_json(const nlohmann::json& spec, const std::string& file) {
  Normalizer normalizer;
  if (!spec.is_null()) normalizer.add_steps(spec, file);
  return normalizer;
}

void Normalizer::add_steps(const nlohmann::json& spec, const std::string& file) {
  const std::string type = spec.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const nlohmann::json& step : spec.at("normalizers")) add_steps(step, file);
  } else if (type == "Prepend") {
    steps_.push_back({Kind::kPrepend, spec.at("prepend").get<std::string>(), ""});
  } else if (type == "Replace") {
    const nlohmann::json& pattern = spec.at("pattern");
    if (!pattern.contains("String")) fail(file, ": normalizer Replace: only string patterns are supported");
    std::string text = pattern["String"].get<std::string>();
    if (text.empty()) fail(file, ": normalizer Replace: empty pattern");
    steps_.push_back({Kind::kReplace, std::move(text), spec.at("content").get<std::string>()});
  } else if (type == "NFC" || type == "NFD") {
    steps_.push_back({type == "NFC" ? Kind::kNfc : Kind::kNfd, "", ""});
  } else if (type == "Strip") {
    steps_.push_back(
        {Kind::kStrip, "", "", spec.value("strip_left", false), spec.value("strip_right", false)});
  } else {
    fail(file, ": unsupported normalizer \"", type, "\"");
  }
}

std::string Normalizer::normalize(std::string_view input) const {
  std::string text(input);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kPrepend:
        if (!text.empty()) text.insert(0, step.pattern);  // empty pieces stay empty, as in Hugging Face
        break;
      case Kind::kReplace:
        text = replace_all(text, step.pattern, step.content);
        break;
      case Kind::kNfc:
        text = unicode::nfc(text);
        break;
      case Kind::kNfd:
        text = unicode::nfd(text);
        break;
      case Kind::kStrip:
        if (step.strip_right) text.resize(text.size() - unicode::trailing_whitespace_length(text));
        if (step.strip_left) text.erase(0, unicode::leading_whitespace_length(text));
        break;
    }
  }
  return text;
}

}  // namespace cpm
