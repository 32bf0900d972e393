// The collective operations tensor parallelism needs, between the ranks (processes) of one group.
// Only this interface lives in core, so the model can call it at its reduce points without
// depending on MPI; the implementations (MPI, single process) live in src/dist.
#pragma once

#include <cstdint>

namespace cpm {

// What one rank has spent communicating so far. Collectives are the all-reduces and all-gathers inside
// a forward step; broadcasts carry the leader's steps to the followers. Times include waiting for
// the other ranks to arrive (a slower rank's compute shows up here), so they bound the cost of the
// transfers themselves from above.
struct CommunicationStats {
  int64_t collectives = 0;
  int64_t collective_bytes = 0;  // this rank's contribution: floats reduced, bytes it gathered from itself
  double collective_seconds = 0;
  int64_t broadcasts = 0;
  int64_t broadcast_bytes = 0;
  double broadcast_seconds = 0;
};

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
  // Totals since this communicator was made; a group of one communicates nothing.
  virtual CommunicationStats stats() const { return {}; }
};

}  // namespace cpm
