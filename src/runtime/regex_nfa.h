// Regular expressions for constrained decoding, compiled to a Thompson NFA over UTF-8 bytes.
//
// The whole output must match, so a pattern is anchored at both ends (a leading ^ and trailing $ are
// accepted and mean nothing more). The syntax is the common subset of Python's re, JavaScript and
// RE2 that outlines and sglang use for structured output: literals, `.`, classes `[a-z]` / `[^...]`,
// `\d \w \s` and their negations, `\n \t \r \f \v \xHH \uHHHH`, groups `(...)`, `(?:...)`,
// `(?P<name>...)`, `(?<name>...)`, alternation and the quantifiers `* + ? {n} {n,} {n,m}` (a lazy
// `?` after one is accepted; it does not change which strings match). Back-references, look-around
// and word boundaries are refused. Characters are Unicode code points: `.` and negated classes match
// any valid UTF-8 sequence, never a lone byte.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

struct RegexNfa {
  struct Edge {  // consumes one byte in [low, high]
    uint8_t low, high;
    int32_t target;
  };
  struct State {
    std::vector<Edge> edges;
    std::vector<int32_t> epsilons;
  };
  std::vector<State> states;
  int32_t start = 0;
  int32_t accept = 0;  // the single accepting state; it has no edges
};

// Throws cpm::Error naming the position and the problem for a malformed or unsupported pattern,
// and when the NFA would need more than `max_states` states (large counted repetitions).
RegexNfa compile_regex(std::string_view pattern, size_t max_states = 250000);

// `text` with every character that has a meaning in a pattern escaped, so it matches literally.
std::string regex_escape(std::string_view text);

}  // namespace cpm
