#include "runtime/number_range_regex.h"

#include <algorithm>
#include <map>
#include <vector>

#include "core/error.h"
#include "runtime/regex_building.h"

namespace cpm {

namespace {

// Equal-length digit strings low <= high: the numbers between them, digit by digit.
std::string digits_between(const std::string& low, const std::string& high) {
  if (low == high) return low;
  if (low.size() == 1) return cat({"[", low.substr(0, 1), "-", high.substr(0, 1), "]"});
  if (low[0] == high[0]) return cat({low.substr(0, 1), group(digits_between(low.substr(1), high.substr(1)))});
  const size_t rest = low.size() - 1;
  const std::string low_rest = low.substr(1), high_rest = high.substr(1);
  char first = low[0], last = high[0];
  std::vector<std::string> parts;
  if (low_rest != std::string(rest, '0')) {
    parts.push_back(cat({std::string(1, first), group(digits_between(low_rest, std::string(rest, '9')))}));
    ++first;
  }
  if (high_rest != std::string(rest, '9')) {
    parts.push_back(cat({std::string(1, last), group(digits_between(std::string(rest, '0'), high_rest))}));
    --last;
  }
  if (first <= last) {
    parts.push_back(
        cat({"[", std::string(1, first), "-", std::string(1, last), "][0-9]{", std::to_string(rest), "}"}));
  }
  return alternatives(parts);
}

// Non-negative integers in [low, high] (no upper bound when high is empty), without leading zeros.
std::string unsigned_range(uint64_t low, std::optional<uint64_t> high) {
  const size_t low_digits = std::to_string(low).size();
  const size_t high_digits = high ? std::to_string(*high).size() : low_digits;
  std::vector<std::string> parts;
  for (size_t digits = low_digits; digits <= high_digits; ++digits) {
    const std::string from =
        digits == low_digits ? std::to_string(low) : cat({"1", std::string(digits - 1, '0')});
    const std::string to = high && digits == high_digits ? std::to_string(*high) : std::string(digits, '9');
    parts.push_back(digits_between(from, to));
  }
  if (!high) parts.push_back(cat({"[1-9][0-9]{", std::to_string(low_digits), ",}"}));
  return alternatives(parts);
}

// A number's decimal digits: the integer part without leading zeros ("0" when none), the fraction
// without trailing zeros.
struct Decimal {
  bool negative = false;
  std::string integer = "0";
  std::string fraction;
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A JSON number's text, exponent applied; bounds beyond 1e18 or with more than 30 decimals are refused.
Decimal parse_decimal(const std::string& text) {
  auto bad = [&text]() -> Decimal { fail("the number bound ", text, " is not a plain JSON number"); };
  Decimal decimal;
  size_t at = 0;
  if (at < text.size() && text[at] == '-') decimal.negative = true, ++at;
  std::string digits;
  while (at < text.size() && is_digit(text[at])) digits += text[at++];
  int64_t point = static_cast<int64_t>(digits.size());
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && is_digit(text[at])) digits += text[at++];
  }
  if (digits.empty()) return bad();
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    const std::string exponent = text.substr(at + 1);
    if (exponent.empty() || exponent.size() > 4 ||
        exponent.find_first_not_of("+-0123456789") != std::string::npos)
      return bad();
    point += std::stoll(exponent);
    at = text.size();
  }
  if (at != text.size()) return bad();
  if (point <= 0) {
    digits.insert(0, static_cast<size_t>(-point), '0');
    point = 0;
  } else if (point > static_cast<int64_t>(digits.size())) {
    digits.append(static_cast<size_t>(point) - digits.size(), '0');
  }
  decimal.integer = digits.substr(0, static_cast<size_t>(point));
  decimal.fraction = digits.substr(static_cast<size_t>(point));
  decimal.integer.erase(0, std::min(decimal.integer.find_first_not_of('0'), decimal.integer.size()));
  if (decimal.integer.empty()) decimal.integer.push_back('0');
  decimal.fraction.erase(decimal.fraction.find_last_not_of('0') + 1);
  if (decimal.integer.size() > 19 ||
      (decimal.integer.size() == 19 && decimal.integer > "1000000000000000000") ||
      (decimal.integer == "1000000000000000000" && !decimal.fraction.empty()))
    fail("number bounds beyond 1e18 are not supported, got ", text);
  if (decimal.fraction.size() > 30)
    fail("number bounds with more than 30 decimals are not supported, got ", text);
  if (decimal.integer == "0" && decimal.fraction.empty()) decimal.negative = false;
  return decimal;
}

int compare_magnitudes(const Decimal& a, const Decimal& b) {
  if (a.integer.size() != b.integer.size()) return a.integer.size() < b.integer.size() ? -1 : 1;
  if (const int order = a.integer.compare(b.integer); order != 0) return order < 0 ? -1 : 1;
  for (size_t k = 0; k < std::max(a.fraction.size(), b.fraction.size()); ++k) {
    const char x = k < a.fraction.size() ? a.fraction[k] : '0',
               y = k < b.fraction.size() ? b.fraction[k] : '0';
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

int compare(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  return a.negative ? -compare_magnitudes(a, b) : compare_magnitudes(a, b);
}

// A bound on the digits after the point: `digits` read as 0.digits ("" is zero).
struct FractionBound {
  std::string digits;
  bool inclusive;
};

// The digit strings after a point whose value lies within the bounds: whether none at all (no
// fraction, value 0) is allowed, and a regex of the non-empty ones ("" when there are none).
struct FractionDigits {
  bool empty_allowed;
  std::string non_empty;
};

bool is_zero(const std::string& digits) {
  return digits.find_first_not_of('0') == std::string::npos;
}

FractionDigits fraction_digits(const std::optional<FractionBound>& low,
                               const std::optional<FractionBound>& high) {
  const bool zero_allowed = !low || (is_zero(low->digits) && low->inclusive);
  if (high && is_zero(high->digits)) {
    if (high->inclusive && zero_allowed) return {true, "0+"};
    return {false, ""};
  }
  if (!high && zero_allowed) return {true, "[0-9]+"};
  if (!high && is_zero(low->digits)) return {false, "[0-9]*[1-9][0-9]*"};
  // Digit by digit: the first digit against each bound's first digit, the rest recursively.
  auto first = [](const FractionBound& bound) { return bound.digits.empty() ? 0 : bound.digits[0] - '0'; };
  auto rest = [](const FractionBound& bound) {
    return FractionBound{bound.digits.empty() ? "" : bound.digits.substr(1), bound.inclusive};
  };
  const int low_digit = low ? first(*low) : -1, high_digit = high ? first(*high) : 10;
  std::vector<std::pair<std::string, std::string>> digits_by_rest;  // (rest regex, digits), in order
  for (int digit = std::max(low_digit, 0); digit <= std::min(high_digit, 9); ++digit) {
    const FractionDigits after =
        fraction_digits(digit == low_digit ? std::optional<FractionBound>(rest(*low)) : std::nullopt,
                        digit == high_digit ? std::optional<FractionBound>(rest(*high)) : std::nullopt);
    if (!after.empty_allowed && after.non_empty.empty()) continue;
    const std::string tail = after.non_empty.empty() ? ""
                             : after.empty_allowed   ? cat({"(", after.non_empty, ")?"})
                                                     : after.non_empty;
    auto same = std::find_if(digits_by_rest.begin(), digits_by_rest.end(),
                             [&tail](const auto& entry) { return entry.first == tail; });
    if (same == digits_by_rest.end()) same = digits_by_rest.insert(digits_by_rest.end(), {tail, ""});
    same->second += static_cast<char>('0' + digit);
  }
  std::vector<std::string> options;
  for (const auto& [tail, digits] : digits_by_rest) options.push_back(cat({"[", digits, "]", tail}));
  return {zero_allowed, options.empty() ? "" : alternatives(options)};
}

// An integer part followed by the allowed fractions, or nullopt when none is allowed.
std::optional<std::string> with_fraction(const std::string& integer, const FractionDigits& fraction) {
  if (!fraction.empty_allowed && fraction.non_empty.empty()) return std::nullopt;
  if (fraction.non_empty.empty()) return integer;
  return cat({integer, fraction.empty_allowed ? "(\\.(" : "\\.(", fraction.non_empty,
              fraction.empty_allowed ? "))?" : ")"});
}

// Unsigned numbers between `low` and `high` (no upper end when absent); "" when there are none.
std::string magnitude_range(const Decimal& low, bool low_inclusive, const std::optional<Decimal>& high,
                            bool high_inclusive) {
  std::vector<std::string> parts;
  auto add = [&parts](std::optional<std::string> part) {
    if (part) parts.push_back(std::move(*part));
  };
  const FractionBound low_fraction{low.fraction, low_inclusive};
  if (high && high->integer == low.integer) {
    add(with_fraction(low.integer,
                      fraction_digits(low_fraction, FractionBound{high->fraction, high_inclusive})));
  } else {
    add(with_fraction(low.integer, fraction_digits(low_fraction, std::nullopt)));
    // Whole numbers strictly between the two integer parts take any fraction.
    const uint64_t next_integer = std::stoull(low.integer) + 1;
    if (!high) {
      parts.push_back(cat({unsigned_range(next_integer, std::nullopt), "(\\.[0-9]+)?"}));
    } else if (const uint64_t high_integer = std::stoull(high->integer); high_integer > next_integer) {
      parts.push_back(cat({unsigned_range(next_integer, high_integer - 1), "(\\.[0-9]+)?"}));
    }
    if (high)
      add(with_fraction(high->integer,
                        fraction_digits(std::nullopt, FractionBound{high->fraction, high_inclusive})));
  }
  return parts.empty() ? "" : alternatives(parts);
}

}  // namespace

std::string integer_range_regex(const int64_t* minimum, const int64_t* maximum) {
  for (const int64_t* bound : {minimum, maximum}) {
    if (bound != nullptr && (*bound > kMaxNumberBound || *bound < -kMaxNumberBound))
      fail("integer bounds beyond 1e18 are not supported");
  }
  if (minimum != nullptr && maximum != nullptr && *minimum > *maximum)
    fail("JSON schema: the integer range [", *minimum, ", ", *maximum, "] is empty");
  std::vector<std::string> parts;
  if (maximum == nullptr || *maximum >= 0) {
    const uint64_t low = minimum != nullptr && *minimum > 0 ? static_cast<uint64_t>(*minimum) : 0;
    parts.push_back(unsigned_range(low, maximum ? std::optional<uint64_t>(*maximum) : std::nullopt));
  }
  if (minimum == nullptr || *minimum < 0) {
    const uint64_t low = maximum != nullptr && *maximum < 0 ? static_cast<uint64_t>(-*maximum) : 1;
    parts.push_back(
        cat({"-", unsigned_range(low, minimum ? std::optional<uint64_t>(-*minimum) : std::nullopt)}));
  }
  return alternatives(parts);
}

std::string number_range_regex(const std::optional<NumberBound>& low,
                               const std::optional<NumberBound>& high) {
  const std::optional<Decimal> lowest =
      low ? std::optional<Decimal>(parse_decimal(low->number)) : std::nullopt;
  const std::optional<Decimal> highest =
      high ? std::optional<Decimal>(parse_decimal(high->number)) : std::nullopt;
  auto empty = [&]() -> std::string {
    fail("JSON schema: the number range ", low ? (low->inclusive ? "[" : "(") : "(",
         low ? low->number : "-inf", ", ", high ? high->number : "inf",
         high ? (high->inclusive ? "]" : ")") : ")", " is empty");
  };
  if (lowest && highest) {
    const int order = compare(*lowest, *highest);
    if (order > 0 || (order == 0 && !(low->inclusive && high->inclusive))) return empty();
  }
  std::vector<std::string> parts;
  if (!highest || !highest->negative) {  // zero and above
    const bool from_low = lowest && !lowest->negative;
    const std::string part = magnitude_range(from_low ? *lowest : Decimal{}, from_low ? low->inclusive : true,
                                             highest, high ? high->inclusive : true);
    if (!part.empty()) parts.push_back(part);
  }
  if (!lowest || lowest->negative) {  // below zero: the magnitudes, after a '-'
    auto magnitude = [](Decimal decimal) {
      decimal.negative = false;
      return decimal;
    };
    const bool from_high = highest && highest->negative;
    const std::string part = magnitude_range(
        from_high ? magnitude(*highest) : Decimal{}, from_high ? high->inclusive : false,
        lowest ? std::optional<Decimal>(magnitude(*lowest)) : std::nullopt, low ? low->inclusive : true);
    if (!part.empty()) parts.push_back(cat({"-", part}));
  }
  if (parts.empty()) return empty();
  return alternatives(parts);
}

}  // namespace cpm
