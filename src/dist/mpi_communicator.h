// The Communicator of the processes mpirun started (MPI_COMM_WORLD), and how a command joins it.
#pragma once

#include <memory>

#include "core/communicator.h"

namespace cpm {

// The world size mpirun announces in the environment (Open MPI's OMPI_COMM_WORLD_SIZE, or PMI_SIZE),
// or 0 when this process was not started by mpirun.
int mpirun_world_size();
// This process's rank from the same environment (0 when not under mpirun); known before MPI starts.
int mpirun_world_rank();

// Joins the tensor-parallel group of `tp_size` ranks. Outside mpirun only 1 is allowed and no MPI
// is started (plain runs stay single-process); under mpirun the world must have exactly tp_size
// processes. Throws cpm::Error with the fix otherwise.
std::unique_ptr<Communicator> join_tensor_parallel_group(int tp_size);

class MpiCommunicator : public Communicator {
 public:
  // Initializes MPI (calls may come from any one thread at a time, such as the engine's thread).
  MpiCommunicator();
  // Finalizes MPI: create one per process, and only once.
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(float* values, int64_t count) override;
  void all_gather(const void* sent, int64_t bytes_per_rank, void* received) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;
  CommunicationStats stats() const override { return stats_; }

 private:
  CommunicationStats stats_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace cpm
