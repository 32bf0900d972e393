// Which part of the model one rank of a tensor-parallel group computes: a contiguous range of
// attention heads, of MLP intermediate channels and of vocabulary rows. Everything else (q_a_proj,
// kv_a_proj_with_mqa, the norms, the KV latent) is computed in full on every rank. Under
// data-parallel attention every rank keeps all heads (it runs attention for its own requests).
#pragma once

#include <cstdint>

#include "model/config.h"

namespace cpm {

struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool contains(int64_t index) const { return index >= begin && index < end; }
};

struct TensorShard {
  int rank = 0;
  int size = 1;  // ranks in the group; 1: the whole model
  IndexRange heads, intermediate, vocab;

  bool is_whole() const { return size == 1; }
  // Rank `rank` of `size` equal shards. Throws cpm::Error naming the dimension that does not split
  // evenly (an uneven split would make one rank the bottleneck of every step). With all_heads (data-
  // parallel attention) the heads are not split.
  static TensorShard split(const ModelConfig& config, int rank, int size, bool all_heads = false);
  // The whole model (size 1).
  static TensorShard whole(const ModelConfig& config) { return split(config, 0, 1); }
};

}  // namespace cpm
