#include "runtime/byte_dfa.h"

#include <algorithm>

#include "core/error.h"

namespace cpm {

ByteDfa::ByteDfa(RegexNfa nfa, size_t max_states)
    : nfa_(std::move(nfa)), max_states_(max_states), visited_(nfa_.states.size(), 0) {
  intern(closure({nfa_.start}));
}

std::vector<int32_t> ByteDfa::closure(const std::vector<int32_t>& seeds) {
  ++generation_;
  std::vector<int32_t> result, pending;
  for (int32_t state : seeds) {
    if (visited_[state] == generation_) continue;
    visited_[state] = generation_;
    pending.push_back(state);
  }
  while (!pending.empty()) {
    const int32_t state = pending.back();
    pending.pop_back();
    result.push_back(state);
    for (int32_t target : nfa_.states[state].epsilons) {
      if (visited_[target] == generation_) continue;
      visited_[target] = generation_;
      pending.push_back(target);
    }
  }
  // Only states with edges (and the accepting one) tell DFA states apart.
  std::erase_if(result, [&](int32_t s) { return nfa_.states[s].edges.empty() && s != nfa_.accept; });
  std::sort(result.begin(), result.end());
  return result;
}

int32_t ByteDfa::intern(std::vector<int32_t> set) {
  if (set.empty()) return kDead;
  auto found = ids_.find(set);
  if (found != ids_.end()) return found->second;
  if (sets_.size() >= max_states_) {
    fail("the output constraint needs more than ", max_states_,
         " automaton states; simplify the pattern or schema");
  }
  const auto id = static_cast<int32_t>(sets_.size());
  accepting_.push_back(std::binary_search(set.begin(), set.end(), nfa_.accept));
  transitions_.emplace_back();
  transitions_.back().fill(kUnknown);
  ids_.emplace(set, id);
  sets_.push_back(std::move(set));
  return id;
}

int32_t ByteDfa::next(int32_t state, uint8_t byte) {
  int32_t& cached = transitions_[state][byte];
  if (cached != kUnknown) return cached;
  std::vector<int32_t> targets;
  for (int32_t member : sets_[state]) {
    for (const RegexNfa::Edge& edge : nfa_.states[member].edges) {
      if (byte >= edge.low && byte <= edge.high) targets.push_back(edge.target);
    }
  }
  const int32_t target = intern(closure(targets));
  transitions_[state][byte] = target;  // `cached` may dangle: intern can grow transitions_
  return target;
}

int32_t ByteDfa::run(int32_t state, std::string_view bytes) {
  for (char c : bytes) {
    if (state == kDead) break;
    state = next(state, static_cast<uint8_t>(c));
  }
  return state;
}

}  // namespace cpm
