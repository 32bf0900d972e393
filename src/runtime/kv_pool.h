// The KV pool: one pre-allocated cache (model/kv_cache.h) whose token slots are handed out to
// sequences. Pages are one token: the radix cache then shares any prefix length without copying a
// partial page, and the only cost is one int32 slot index per token, tiny next to a cached row
// (288 floats per layer for MiniCPM3-4B). Free slots sit on a stack reserved at full capacity, so
// allocation never touches the heap.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/kv_cache.h"
#include "model/minicpm3.h"

namespace cpm {

class KvPool {
 public:
  KvPool(const MiniCPM3& model, int64_t num_slots, DType dtype);

  // Slots that fit a byte budget for this model, backend and dtype.
  static int64_t slots_for_budget(const MiniCPM3& model, int64_t budget_bytes, DType dtype);

  // Appends `count` free slots to `out`; returns false (and takes nothing) when fewer are free.
  bool allocate(int64_t count, std::vector<int32_t>* out);
  void release(const int32_t* slots, int64_t count);
  void release(const std::vector<int32_t>& slots) {
    release(slots.data(), static_cast<int64_t>(slots.size()));
  }

  int64_t capacity() const { return cache_->num_slots(); }
  int64_t num_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t num_used() const { return capacity() - num_free(); }
  KvCache& cache() { return *cache_; }
  const KvCache& cache() const { return *cache_; }

 private:
  std::unique_ptr<KvCache> cache_;
  std::vector<int32_t> free_;
};

}  // namespace cpm
