#include "core/large_buffer.h"

#include <sys/mman.h>

#include <cstdlib>

#include "core/error.h"

namespace cpm {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

LargeBuffer::LargeBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* memory = std::aligned_alloc(kHugePage, rounded);
  if (memory == nullptr) fail("out of memory: could not allocate ", bytes, " bytes for weights");
  ::madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: without it the pages are 4 KB
  data_.reset(static_cast<uint8_t*>(memory));
}

void LargeBuffer::Free::operator()(uint8_t* p) const {
  std::free(p);
}

}  // namespace cpm
