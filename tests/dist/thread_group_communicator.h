// A Communicator whose ranks are threads of one process: tensor parallelism tested in-process (and
// under the sanitizers) without mpirun. Every rank must make the same calls in the same order.
#pragma once

#include <barrier>
#include <memory>
#include <vector>

#include "core/communicator.h"

namespace cpm::test {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), arrived_(size), buffers_(size) {}
  int size() const { return size_; }

 private:
  friend class ThreadGroupCommunicator;
  int size_;
  std::barrier<> arrived_;
  std::vector<const void*> buffers_;  // each rank's buffer in the current collective
};

class ThreadGroupCommunicator : public Communicator {
 public:
  ThreadGroupCommunicator(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  void all_reduce_sum(float* values, int64_t count) override;
  void all_gather(const void* sent, int64_t bytes_per_rank, void* received) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  void barrier() override { group_.arrived_.arrive_and_wait(); }
  [[noreturn]] void abort(int exit_code) override;

 private:
  ThreadGroup& group_;
  int rank_;
};

}  // namespace cpm::test
