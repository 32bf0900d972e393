// Regular expressions for the JSON numbers in a range, for JSON schemas' minimum / maximum.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cpm {

inline constexpr int64_t kMaxNumberBound = 1000000000000000000;  // 1e18: bounds beyond it are refused

// Integers in [minimum, maximum], without leading zeros; either bound may be absent.
std::string integer_range_regex(const int64_t* minimum, const int64_t* maximum);

// One end of a range of numbers: a JSON number's text ("2", "-0.25", "1e-3") and whether the
// range includes it.
struct NumberBound {
  std::string number;
  bool inclusive = true;
};

// Numbers in the range written as JSON does without an exponent, `-?(0|[1-9][0-9]*)(\.[0-9]+)?`
// (trailing zeros in the fraction allowed, "-0" not); either end may be absent. Exact: decided
// digit by digit on the decimal text, never through floating point. Throws cpm::Error when the
// range is empty, a bound is beyond 1e18 or has more than 30 decimals.
std::string number_range_regex(const std::optional<NumberBound>& low, const std::optional<NumberBound>& high);

}  // namespace cpm
