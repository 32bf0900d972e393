#include "core/memory_bandwidth.h"

#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

namespace cpm {

double measure_read_bandwidth(ThreadPool& pool, int64_t bytes, int repeats) {
  const int64_t count = bytes / static_cast<int64_t>(sizeof(uint64_t));
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[count]);
  // Touch every page from the threads that will read it, so no first-touch cost lands in the timing.
  pool.parallel_for(count, 4096, [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) buffer[i] = static_cast<uint64_t>(i);
  });
  std::vector<uint64_t> sinks(pool.num_threads(), 0);
  double best = 0;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(count, 4096, [&](int thread, int64_t begin, int64_t end) {
      // Four independent sums keep the loads, not the adds, the bottleneck.
      uint64_t a = 0, b = 0, c = 0, d = 0;
      int64_t i = begin;
      for (; i + 4 <= end; i += 4) {
        a += buffer[i];
        b += buffer[i + 1];
        c += buffer[i + 2];
        d += buffer[i + 3];
      }
      for (; i < end; ++i) a += buffer[i];
      sinks[thread] += a + b + c + d;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(count * sizeof(uint64_t)) / seconds);
  }
  volatile uint64_t keep = 0;
  for (uint64_t sink : sinks) keep = keep + sink;
  return best;
}

int64_t peak_resident_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace cpm
