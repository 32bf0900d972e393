// A deterministic automaton over bytes, built lazily from a RegexNfa: a state is a set of NFA states,
// made the first time a transition reaches it, so only the part of the language that outputs
// explore is ever built (a subset construction up front can be exponential).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "runtime/regex_nfa.h"

namespace cpm {

class ByteDfa {
 public:
  static constexpr int32_t kDead = -1;

  // Throws cpm::Error once more than `max_states` states would be needed (each takes 1 KB).
  explicit ByteDfa(RegexNfa nfa, size_t max_states = 10000);

  int32_t start() const { return 0; }
  int32_t next(int32_t state, uint8_t byte);  // kDead when no string continues this way
  bool accepting(int32_t state) const { return accepting_[state]; }
  // The state after `bytes` from `state` (kDead once no string continues that way).
  int32_t run(int32_t state, std::string_view bytes);
  // True when the whole of `text` is in the language.
  bool matches(std::string_view text) {
    const int32_t end = run(start(), text);
    return end != kDead && accepting(end);
  }
  size_t num_states() const { return sets_.size(); }

 private:
  static constexpr int32_t kUnknown = -2;
  int32_t intern(std::vector<int32_t> set);
  std::vector<int32_t> closure(const std::vector<int32_t>& seeds);

  RegexNfa nfa_;
  size_t max_states_;
  std::vector<std::vector<int32_t>> sets_;             // sorted NFA states of each DFA state
  std::vector<std::array<int32_t, 256>> transitions_;  // kUnknown until first asked
  std::vector<bool> accepting_;
  std::map<std::vector<int32_t>, int32_t> ids_;
  std::vector<uint32_t> visited_;  // closure scratch: the generation that last reached each NFA state
  uint32_t generation_ = 0;
};

}  // namespace cpm
