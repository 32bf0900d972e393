#include "test_paths.h"

#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace cpm::test {

std::string source_dir() {
  return CPM_SOURCE_DIR;
}
std::string binary_dir() {
  return CPM_BINARY_DIR;
}
std::string test_data_dir() {
  return source_dir() + "/tests/data";
}

std::string shared_dir() {
  std::filesystem::path shared = std::filesystem::path(source_dir()) / ".." / "shared";
  if (const char* override_dir = std::getenv("CPM_SHARED_DIR")) shared = override_dir;
  if (!std::filesystem::is_directory(shared)) return "";
  return std::filesystem::canonical(shared).string();
}

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace cpm::test
