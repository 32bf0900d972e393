// Number checks for command-line options. CLI11's PositiveNumber rejects 0 with "Value 0 not in range
// 0.000000 to 1797...", which names neither the rule nor the limit; these say what is wanted.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace cpm::app {

// A check that `text` is a number for which `holds` is true; otherwise "must be <rule> (got text)".
template <typename Predicate>
CLI::Validator number_check(const char* name, const char* rule, Predicate holds) {
  return CLI::Validator(
      [rule, holds](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "must be a number (got " + text + ")";
        return holds(value) ? std::string() : std::string("must be ") + rule + " (got " + text + ")";
      },
      name);
}

inline const CLI::Validator kPositive =
    number_check("POSITIVE", "greater than 0", [](double v) { return v > 0; });
inline const CLI::Validator kNonNegative =
    number_check("NONNEGATIVE", "0 or more", [](double v) { return v >= 0; });

}  // namespace cpm::app
