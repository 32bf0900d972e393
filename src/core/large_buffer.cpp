#include "core/large_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.h"

namespace cpm {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr int kMadviseCollapse = 25;  // MADV_COLLAPSE, missing from older headers

size_t rounded_size(size_t bytes) {
  return (bytes + kHugePage - 1) / kHugePage * kHugePage;
}
}  // namespace

LargeBuffer::LargeBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  const size_t rounded = rounded_size(bytes);
  void* memory = std::aligned_alloc(kHugePage, rounded);
  if (memory == nullptr) fail("out of memory: could not allocate ", bytes, " bytes for weights");
  ::madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: without it the pages are 4 KB
  data_.reset(static_cast<uint8_t*>(memory));
}

int64_t LargeBuffer::huge_page_bytes() const {
  if (size_ == 0) return 0;
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return -1;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data_.get()), end = begin + size_;
  int64_t total = 0, overlap = 0;  // overlap: bytes of the current mapping inside the buffer
  std::string line;
  while (std::getline(smaps, line)) {
    unsigned long first = 0, last = 0;
    char separator = 0;
    // A mapping's header starts "first-last perms ..."; its fields start "Name:".
    if (std::sscanf(line.c_str(), "%lx-%lx%c", &first, &last, &separator) == 3 && separator == ' ') {
      overlap = std::max<int64_t>(0, static_cast<int64_t>(std::min<uintptr_t>(last, end)) -
                                         static_cast<int64_t>(std::max<uintptr_t>(first, begin)));
    } else if (overlap > 0 && line.rfind("AnonHugePages:", 0) == 0) {
      total += std::min<int64_t>(overlap, std::atoll(line.c_str() + 14) * 1024);
    }
  }
  return total;
}

bool LargeBuffer::collapse_to_huge_pages() {
  if (size_ == 0) return true;
  return ::madvise(data_.get(), rounded_size(size_), kMadviseCollapse) == 0;
}

void LargeBuffer::Free::operator()(uint8_t* p) const {
  std::free(p);
}

}  // namespace cpm
