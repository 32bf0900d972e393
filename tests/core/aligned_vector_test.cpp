#include "core/aligned_vector.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

namespace cpm {
namespace {

bool on_cache_line(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % kCacheLineBytes == 0;
}

// Small blocks come from malloc's arenas and large ones (past its mmap threshold, 128 KB and up)
// from fresh mappings; std::allocator leaves the latter 16 bytes past a page boundary.
TEST(AlignedVectorTest, DataStartsOnACacheLineAtEverySize) {
  for (size_t count : {size_t{1}, size_t{3}, size_t{17}, size_t{1000}, size_t{40000}, size_t{3} << 20}) {
    AlignedVector<float> values(count, 1.0f);
    EXPECT_TRUE(on_cache_line(values.data())) << count << " floats";
    values.resize(count * 2 + 1);
    EXPECT_TRUE(on_cache_line(values.data())) << count * 2 + 1 << " floats after growing";
    EXPECT_EQ(values[count - 1], 1.0f);
  }
}

TEST(AlignedVectorTest, CopiesAndMovesKeepTheValues) {
  AlignedVector<int> values = {1, 2, 3};
  AlignedVector<int> copy = values;
  AlignedVector<int> moved = std::move(values);
  EXPECT_EQ(copy, moved);
  EXPECT_TRUE(on_cache_line(copy.data()));
}

}  // namespace
}  // namespace cpm
