#include "core/large_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

namespace cpm {
namespace {

constexpr size_t kBytes = size_t{16} << 20;

std::string transparent_huge_pages_mode() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(file, line);
  return line;
}

TEST(LargeBufferTest, CountsNoMoreHugePagesThanItsSize) {
  LargeBuffer buffer(kBytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % (size_t{2} << 20), 0u);
  std::memset(buffer.data(), 1, kBytes);
  const int64_t huge = buffer.huge_page_bytes();
  EXPECT_GE(huge, -1);
  EXPECT_LE(huge, static_cast<int64_t>(kBytes));
  EXPECT_EQ(LargeBuffer().huge_page_bytes(), 0);
}

// Where the kernel collapses the buffer, every byte of it is then in huge pages, and smaps says so.
TEST(LargeBufferTest, CollapsedBufferIsAllHugePages) {
  const std::string mode = transparent_huge_pages_mode();
  if (mode.empty() || mode.find("[never]") != std::string::npos)
    GTEST_SKIP() << "transparent huge pages off here: " << mode;
  LargeBuffer buffer(kBytes);
  std::memset(buffer.data(), 1, kBytes);
  if (!buffer.collapse_to_huge_pages())
    GTEST_SKIP() << "the kernel did not collapse (before 6.1, or no memory)";
  EXPECT_EQ(buffer.huge_page_bytes(), static_cast<int64_t>(kBytes));
  EXPECT_EQ(buffer.data()[kBytes - 1], 1);  // the contents stay
}

}  // namespace
}  // namespace cpm
