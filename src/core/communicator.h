// The collective operations tensor parallelism needs, between the ranks (processes) of one group.
// Only this interface lives in core, so the model can call it at its reduce points without
// depending on MPI; the implementations (MPI, single process) live in src/dist.
#pragma once

#include <cstdint>

namespace cpm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum over every rank, in place; every rank ends with the same numbers.
  virtual void all_reduce_sum(float* values, int64_t count) = 0;
  // Every rank sends `bytes_per_rank` bytes; `received` gets all of them in rank order (size() times
  // bytes_per_rank bytes) on every rank.
  virtual void all_gather(const void* sent, int64_t bytes_per_rank, void* received) = 0;
  // `bytes` bytes of root's `data` are copied into `data` on every other rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends the processes of every rank: a rank that fails in the middle of a collective step would
  // otherwise leave the others waiting for it forever.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

}  // namespace cpm
