// How a command runs over a tensor-parallel group. Rank 0, the leader, runs the command as usual
// (its tokenizer, scheduler, HTTP server); every step its model takes is broadcast first, and the
// other ranks, the followers, replay it on their shards of the weights with a KV cache of their own,
// so the collectives inside MiniCPM3::forward pair up. Followers print nothing. Under data-parallel
// attention a step carries every DP rank's batch; each follower runs attention for its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/communicator.h"
#include "model/minicpm3.h"

namespace cpm {

// With a group of one, simply returns leader_work(). Otherwise the leader runs leader_work() and then
// releases the followers (also when it throws); a follower returns 0 once released. A follower
// that fails aborts the whole group.
int run_tensor_parallel(Communicator* group, MiniCPM3& model, const std::function<int()>& leader_work);

// One DP rank's part of a step as broadcast: its batch, flattened, and the leader's cache for it
// (cache_id 0: none). Plain tensor parallelism has one part.
struct StepPart {
  StepPart() = default;
  StepPart(StepPart&&) = default;  // moving keeps `slots`' buffer, so batch stays valid
  StepPart(const StepPart&) = delete;
  uint64_t cache_id = 0;
  int64_t cache_slots = 0;
  DType cache_dtype = DType::kF32;
  ForwardBatch batch;          // sequences point into `slots`
  std::vector<int32_t> slots;  // every sequence's slots, back to back
};

struct StepMessage {
  bool stop = false;  // the leader is done
  std::vector<StepPart> parts;
};

// batches[i] runs on caches[i] (which may be null for a DP rank without a cache).
std::vector<uint8_t> encode_step(const std::vector<const ForwardBatch*>& batches,
                                 const std::vector<const KvCache*>& caches);
std::vector<uint8_t> encode_step(const ForwardBatch& batch, const KvCache& cache);
std::vector<uint8_t> encode_stop();
// Throws cpm::Error if the bytes are not a step encode_step() produced.
StepMessage decode_step(const std::vector<uint8_t>& bytes);

}  // namespace cpm
