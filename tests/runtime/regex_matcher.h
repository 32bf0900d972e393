// A test helper: whether a whole text matches a regex, through the automaton constraints use.
#pragma once

#include <string>
#include <string_view>

#include "runtime/byte_dfa.h"

namespace cpm {

class RegexMatcher {
 public:
  explicit RegexMatcher(const std::string& regex) : dfa_(compile_regex(regex)) {}
  bool operator()(std::string_view text) { return dfa_.matches(text); }

 private:
  ByteDfa dfa_;
};

}  // namespace cpm
