#include "core/memory_bandwidth.h"

#include <immintrin.h>
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

namespace cpm {

namespace {

// Sums a [begin, end) range of 64-bit words into *sink, as fast as the core can ask for them.
using ReadRange = void (*)(const uint64_t* buffer, int64_t begin, int64_t end, uint64_t* sink);

void read_range_portable(const uint64_t* buffer, int64_t begin, int64_t end, uint64_t* sink) {
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
  *sink += a + b + c + d;
}

// 32-byte loads with each line requested 4 KB ahead: the scalar loop above keeps too few lines in
// flight and measured about 30% below what the decode kernels stream (docs/PERFORMANCE.md), which
// would put them above 100% of their limit.
__attribute__((target("avx2"))) void read_range_avx2(const uint64_t* buffer, int64_t begin, int64_t end,
                                                     uint64_t* sink) {
  constexpr int64_t kWordsPerStep = 16;  // two cache lines
  constexpr int64_t kAheadWords = 4096 / 8;
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  int64_t i = begin;
  for (; i + kWordsPerStep <= end; i += kWordsPerStep) {
    const char* ahead = reinterpret_cast<const char*>(buffer + i + kAheadWords);
    _mm_prefetch(ahead, _MM_HINT_T0);
    _mm_prefetch(ahead + 64, _MM_HINT_T0);
    a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buffer + i)));
    b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buffer + i + 4)));
    c = _mm256_add_epi64(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buffer + i + 8)));
    d = _mm256_add_epi64(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buffer + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < end; ++i) total += buffer[i];
  *sink += total;
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, int64_t bytes, int repeats) {
  const int64_t count = bytes / static_cast<int64_t>(sizeof(uint64_t));
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[count]);
  // Touch every page from the threads that will read it, so no first-touch cost lands in the timing.
  pool.parallel_for(count, 4096, [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) buffer[i] = static_cast<uint64_t>(i);
  });
  const ReadRange read_range = __builtin_cpu_supports("avx2") ? read_range_avx2 : read_range_portable;
  std::vector<uint64_t> sinks(pool.num_threads(), 0);
  double best = 0;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(count, 4096, [&](int thread, int64_t begin, int64_t end) {
      read_range(buffer.get(), begin, end, &sinks[thread]);
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
