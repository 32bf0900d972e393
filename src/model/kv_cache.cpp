#include "model/kv_cache.h"

#include <sys/mman.h>

#include <atomic>
#include <cstring>

#include "core/error.h"

namespace cpm {

int64_t KvCache::bytes_per_token(int64_t num_layers, int64_t row_width, DType dtype) {
  return num_layers * row_width * (dtype == DType::kF32 ? 4 : 2);
}

KvCache::KvCache(int64_t num_layers, int64_t num_slots, int64_t row_width, DType dtype)
    : num_layers_(num_layers), num_slots_(num_slots), row_width_(row_width), dtype_(dtype) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id++;
  if (dtype != DType::kF32 && dtype != DType::kBF16) fail("--kv-cache-dtype must be f32 or bf16");
  if (num_slots <= 0) fail("KV cache must hold at least one token (got ", num_slots, " slots)");
  memory_bytes_ = static_cast<size_t>(total_bytes());
  // Anonymous mapping: pages are committed on first touch, so a large budget costs nothing until used.
  void* mapped = ::mmap(nullptr, memory_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) fail("cannot reserve ", memory_bytes_, " bytes for the KV cache");
  memory_ = static_cast<uint8_t*>(mapped);
}

KvCache::~KvCache() {
  ::munmap(memory_, memory_bytes_);
}

uint8_t* KvCache::row_address(int64_t layer, int64_t slot) const {
  return memory_ + ((layer * num_slots_ + slot) * row_width_) * element_bytes();
}

void KvCache::write_row(int64_t layer, int64_t slot, const float* values) {
  uint8_t* row = row_address(layer, slot);
  if (dtype_ == DType::kF32) {
    std::memcpy(row, values, row_width_ * sizeof(float));
    return;
  }
  uint16_t* out = reinterpret_cast<uint16_t*>(row);
  for (int64_t i = 0; i < row_width_; ++i) out[i] = f32_to_bf16(values[i]);
}

const float* KvCache::read_row(int64_t layer, int64_t slot, float* scratch) const {
  const uint8_t* row = row_address(layer, slot);
  if (dtype_ == DType::kF32) return reinterpret_cast<const float*>(row);
  const uint16_t* in = reinterpret_cast<const uint16_t*>(row);
  for (int64_t i = 0; i < row_width_; ++i) scratch[i] = bf16_to_f32(in[i]);
  return scratch;
}

}  // namespace cpm
