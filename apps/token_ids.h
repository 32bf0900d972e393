// Parsing of comma-separated token id lists given on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace cpm::app {

inline std::vector<int32_t> parse_token_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX) {
      fail("--prompt-ids: \"", item, "\" is not a token id (expected comma-separated non-negative integers)");
    }
    ids.push_back(static_cast<int32_t>(value));
    start = comma + 1;
  }
  return ids;
}

}  // namespace cpm::app
