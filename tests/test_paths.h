// Where tests find the project's test data and the shared reference data (../shared beside the repo).
#pragma once

#include <string>

namespace cpm::test {

std::string source_dir();
std::string binary_dir();
std::string test_data_dir();  // tests/data
// ../shared next to the source tree, or "" when absent.
std::string shared_dir();
// True when CI=true: tests that need ../shared then fail instead of skipping.
bool running_in_ci();

}  // namespace cpm::test

// Skips the current test with a visible message when ../shared is missing (never in CI).
#define CPM_REQUIRE_SHARED()                                                          \
  do {                                                                                \
    if (::cpm::test::shared_dir().empty()) {                                          \
      if (::cpm::test::running_in_ci()) FAIL() << "../shared is missing and CI=true"; \
      GTEST_SKIP() << "../shared is not next to the source tree; skipping";           \
    }                                                                                 \
  } while (0)
