// Small helpers for writing regular expressions (regex_nfa.h syntax) out of parts.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace cpm {

// Concatenation by appending (GCC 12 warns wrongly, -Wrestrict, on `"literal" + std::string`).
inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string joined;
  for (std::string_view part : parts) joined.append(part);
  return joined;
}

inline std::string group(std::string_view regex) {
  return cat({"(", regex, ")"});
}

// (a|b|...): one of the options.
inline std::string alternatives(const std::vector<std::string>& options) {
  std::string joined;
  for (size_t k = 0; k < options.size(); ++k) joined.append(k == 0 ? "" : "|").append(options[k]);
  return group(joined);
}

}  // namespace cpm
