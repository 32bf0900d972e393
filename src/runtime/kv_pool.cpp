#include "runtime/kv_pool.h"

#include "core/error.h"

namespace cpm {

KvPool::KvPool(const MiniCPM3& model, int64_t num_slots, DType dtype) {
  if (num_slots <= 0 || num_slots > INT32_MAX) fail("KV pool size ", num_slots, " tokens is out of range");
  cache_ = model.make_cache(num_slots, dtype);
  free_.reserve(num_slots);
  // Lowest slots on top of the stack, so a fresh pool fills from the start.
  for (int64_t slot = num_slots - 1; slot >= 0; --slot) free_.push_back(static_cast<int32_t>(slot));
}

int64_t KvPool::slots_for_budget(const MiniCPM3& model, int64_t budget_bytes, DType dtype) {
  const int64_t per_token =
      KvCache::bytes_per_token(model.config().num_hidden_layers, model.attention().cache_row_width(), dtype);
  return budget_bytes / per_token;
}

bool KvPool::allocate(int64_t count, std::vector<int32_t>* out) {
  if (count > num_free()) return false;
  for (int64_t i = 0; i < count; ++i) {
    out->push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

void KvPool::release(const int32_t* slots, int64_t count) {
  if (num_free() + count > capacity()) fail("internal: KV pool released more slots than it holds");
  free_.insert(free_.end(), slots, slots + count);
}

}  // namespace cpm
