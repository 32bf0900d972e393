// The group of one: what a plain (non-mpirun) run uses. Every collective is a copy or nothing.
#pragma once

#include <cstdlib>
#include <cstring>

#include "core/communicator.h"

namespace cpm {

class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(float*, int64_t) override {}
  void all_gather(const void* sent, int64_t bytes_per_rank, void* received) override {
    if (bytes_per_rank > 0 && sent != received) std::memmove(received, sent, bytes_per_rank);
  }
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override { std::_Exit(exit_code); }
};

}  // namespace cpm
