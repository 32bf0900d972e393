// Storage of the attention cache: for every layer, `num_slots` rows of `row_width` numbers, one row
// per cached token. What a row holds is the attention backend's business (the latent backend keeps
// the normalized KV latent and the rotated rope key; the materialized one per-head K and V). Which
// slots a sequence owns is decided by the runtime's pool; this class only stores.
#pragma once

#include <cstdint>
#include <memory>

#include "core/dtype.h"

namespace cpm {

class KvCache {
 public:
  // dtype is f32 or bf16. Memory is reserved up front and never reallocated.
  KvCache(int64_t num_layers, int64_t num_slots, int64_t row_width, DType dtype);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t num_layers() const { return num_layers_; }
  int64_t num_slots() const { return num_slots_; }
  int64_t row_width() const { return row_width_; }
  DType dtype() const { return dtype_; }
  // Distinct for every cache this process creates (tells a tensor-parallel rank which cache a step
  // the leader broadcasts belongs to).
  uint64_t id() const { return id_; }
  // Bytes one token occupies across all layers.
  int64_t bytes_per_token() const { return num_layers_ * row_width_ * element_bytes(); }
  int64_t total_bytes() const { return bytes_per_token() * num_slots_; }
  static int64_t bytes_per_token(int64_t num_layers, int64_t row_width, DType dtype);

  void write_row(int64_t layer, int64_t slot, const float* values);
  // The stored row, in the cache's dtype.
  const uint8_t* row_data(int64_t layer, int64_t slot) const { return row_address(layer, slot); }
  // Returns the row as f32: in place for an f32 cache, else widened into `scratch` (row_width floats).
  const float* read_row(int64_t layer, int64_t slot, float* scratch) const;

 private:
  int64_t element_bytes() const { return dtype_ == DType::kF32 ? 4 : 2; }
  uint8_t* row_address(int64_t layer, int64_t slot) const;

  int64_t num_layers_, num_slots_, row_width_;
  DType dtype_;
  uint64_t id_;
  uint8_t* memory_ = nullptr;
  size_t memory_bytes_ = 0;
};

}  // namespace cpm
