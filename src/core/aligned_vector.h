// Vectors whose data starts on a cache line.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace cpm {

constexpr size_t kCacheLineBytes = 64;

// std::allocator gives 16-byte alignment, and glibc hands out large blocks 16 bytes past a page
// boundary, so half of the 32-byte loads over such rows straddle two cache lines. The float prefill
// tile alone ran 3-6% slower over rows placed that way, the whole bf16 product 0-3%
// (docs/PERFORMANCE.md).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;

  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // NOLINT: rebinding converts implicitly

  T* allocate(size_t count) {
    return static_cast<T*>(::operator new (count * sizeof(T), std::align_val_t{kCacheLineBytes}));
  }
  void deallocate(T* p, size_t) { ::operator delete (p, std::align_val_t{kCacheLineBytes}); }

  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
};

// Activation and scratch buffers that the kernels read with vector loads.
template <typename T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace cpm
