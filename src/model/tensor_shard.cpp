#include "model/tensor_shard.h"

#include "core/error.h"

namespace cpm {

namespace {

IndexRange split_evenly(int64_t total, int rank, int size, const char* dimension) {
  if (total % size != 0) {
    fail("--tp-size ", size, " does not divide ", dimension, " (", total,
         "): choose a tensor-parallel size that divides it");
  }
  const int64_t part = total / size;
  return IndexRange{rank * part, (rank + 1) * part};
}

}  // namespace

TensorShard TensorShard::split(const ModelConfig& config, int rank, int size, bool all_heads) {
  if (size < 1) fail("--tp-size must be at least 1, got ", size);
  if (rank < 0 || rank >= size) fail("internal: rank ", rank, " outside a group of ", size);
  TensorShard shard;
  shard.rank = rank;
  shard.size = size;
  shard.heads = all_heads ? IndexRange{0, config.num_attention_heads}
                          : split_evenly(config.num_attention_heads, rank, size, "num_attention_heads");
  shard.intermediate = split_evenly(config.intermediate_size, rank, size, "intermediate_size");
  shard.vocab = split_evenly(config.vocab_size, rank, size, "vocab_size");
  return shard;
}

}  // namespace cpm
