#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cpm {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::split_range(int64_t count, int64_t grain, int parts, int index, int64_t* begin,
                             int64_t* end) {
  const int64_t units = (count + grain - 1) / grain;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t first = index * base + std::min<int64_t>(index, extra);
  const int64_t length = base + (index < extra ? 1 : 0);
  *begin = std::min(count, first * grain);
  *end = std::min(count, (first + length) * grain);
}

void ThreadPool::run_part(int index) {
  if (index >= job_parts_) return;
  int64_t begin, end;
  split_range(job_count_, job_grain_, job_parts_, index, &begin, &end);
  if (begin < end) (*job_)(index, begin, end);
}

void ThreadPool::parallel_for(int64_t count, int64_t grain,
                              const std::function<void(int, int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t units = (count + grain - 1) / grain;
  const int parts = static_cast<int>(std::min<int64_t>(units, num_threads_));
  if (parts <= 1) {
    fn(0, 0, count);
    return;
  }
  job_ = &fn;
  job_count_ = count;
  job_grain_ = grain;
  job_parts_ = parts;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_part(0);
  while (pending_.load(std::memory_order_acquire) != 0) cpu_relax();
  job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  while (true) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      cpu_relax();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load()) return;
    run_part(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace cpm
