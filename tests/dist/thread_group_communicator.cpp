#include "thread_group_communicator.h"

#include <cstdlib>
#include <cstring>

namespace cpm::test {

// Each collective: publish a pointer, wait for all, read the others, wait until everyone has read.
void ThreadGroupCommunicator::all_reduce_sum(float* values, int64_t count) {
  group_.buffers_[rank_] = values;
  barrier();
  std::vector<float> sum(count, 0.0f);
  for (int r = 0; r < size(); ++r) {
    const float* part = static_cast<const float*>(group_.buffers_[r]);
    for (int64_t i = 0; i < count; ++i) sum[i] += part[i];
  }
  barrier();
  std::memcpy(values, sum.data(), count * sizeof(float));
}

void ThreadGroupCommunicator::all_gather(const void* sent, int64_t bytes_per_rank, void* received) {
  group_.buffers_[rank_] = sent;
  barrier();
  for (int r = 0; r < size(); ++r) {
    std::memcpy(static_cast<char*>(received) + r * bytes_per_rank, group_.buffers_[r], bytes_per_rank);
  }
  barrier();
}

void ThreadGroupCommunicator::broadcast(void* data, int64_t bytes, int root) {
  group_.buffers_[rank_] = data;
  barrier();
  if (rank_ != root) std::memcpy(data, group_.buffers_[root], bytes);
  barrier();
}

void ThreadGroupCommunicator::abort(int) {
  std::abort();  // a test that gets here has failed
}

}  // namespace cpm::test
