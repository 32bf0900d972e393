#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/error.h"
#include "dist/single_process_communicator.h"

namespace cpm {

namespace {

int environment_number(const char* open_mpi_name, const char* pmi_name) {
  for (const char* name : {open_mpi_name, pmi_name}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return -1;
}

// MPI counts are int: larger buffers go in pieces.
constexpr int64_t kMaxCount = INT_MAX;

// Followers wait in a broadcast for the leader's next step, which may be far away (an idle server),
// and MPI's blocking calls spin a core meanwhile. So: poll alone for a moment (steps that follow one
// another arrive within it), then sleep between polls, up to a millisecond.
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void wait_without_spinning(MPI_Request* request) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kPollOnly = std::chrono::microseconds(200);
  constexpr auto kLongestSleep = std::chrono::microseconds(1000);
  const Clock::time_point start = Clock::now();
  std::chrono::microseconds sleep(10);
  for (;;) {
    int done = 0;
    MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (Clock::now() - start < kPollOnly) continue;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, kLongestSleep);
  }
}

}  // namespace

int mpirun_world_size() {
  return std::max(0, environment_number("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"));
}

int mpirun_world_rank() {
  return std::max(0, environment_number("OMPI_COMM_WORLD_RANK", "PMI_RANK"));
}

std::unique_ptr<Communicator> join_tensor_parallel_group(int tp_size) {
  if (tp_size < 1) fail("--tp-size must be at least 1, got ", tp_size);
  const int world_size = mpirun_world_size();
  if (world_size == 0) {
    if (tp_size != 1) {
      fail("--tp-size ", tp_size, " runs one process per rank: launch it as mpirun -np ", tp_size,
           " cpmserve ...");
    }
    return std::make_unique<SingleProcessCommunicator>();
  }
  if (world_size != tp_size) {
    fail("--tp-size ", tp_size, " does not match the ", world_size,
         " processes mpirun started: give mpirun -np the same number as --tp-size");
  }
  if (world_size == 1) return std::make_unique<SingleProcessCommunicator>();
  return std::make_unique<MpiCommunicator>();
}

MpiCommunicator::MpiCommunicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) fail("internal: MPI is already initialized (one MpiCommunicator per process)");
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    fail(
        "this MPI library does not allow calls from threads other than the main one "
        "(MPI_THREAD_SERIALIZED), which the serving engine needs");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  MPI_Finalize();
}

void MpiCommunicator::all_reduce_sum(float* values, int64_t count) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < count; done += kMaxCount) {
    const int piece = static_cast<int>(std::min(kMaxCount, count - done));
    MPI_Allreduce(MPI_IN_PLACE, values + done, piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  stats_.collectives += 1;
  stats_.collective_bytes += count * static_cast<int64_t>(sizeof(float));
  stats_.collective_seconds += seconds_since(start);
}

void MpiCommunicator::all_gather(const void* sent, int64_t bytes_per_rank, void* received) {
  if (bytes_per_rank > kMaxCount)
    fail("all_gather of ", bytes_per_rank, " bytes per rank is too large for MPI");
  const int bytes = static_cast<int>(bytes_per_rank);
  const auto start = std::chrono::steady_clock::now();
  MPI_Allgather(sent, bytes, MPI_BYTE, received, bytes, MPI_BYTE, MPI_COMM_WORLD);
  stats_.collectives += 1;
  stats_.collective_bytes += bytes_per_rank;
  stats_.collective_seconds += seconds_since(start);
}

void MpiCommunicator::broadcast(void* data, int64_t bytes, int root) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < bytes; done += kMaxCount) {
    const int piece = static_cast<int>(std::min(kMaxCount, bytes - done));
    MPI_Request request;
    MPI_Ibcast(static_cast<char*>(data) + done, piece, MPI_BYTE, root, MPI_COMM_WORLD, &request);
    wait_without_spinning(&request);
  }
  stats_.broadcasts += 1;
  stats_.broadcast_bytes += bytes;
  stats_.broadcast_seconds += seconds_since(start);
}

void MpiCommunicator::barrier() {
  MPI_Barrier(MPI_COMM_WORLD);
}

void MpiCommunicator::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this tells the compiler so
}

}  // namespace cpm
