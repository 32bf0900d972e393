#include "core/thread_pool.h"

#include <algorithm>

#include "core/error.h"

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

// Asks for the next few lines of `range` into L2; false once it is all asked for. A few lines per
// call, so a waiting thread checks often whether the wait is over.
bool prefetch_some(PrefetchRange* range) {
  if (range->bytes <= 0) return false;
  constexpr int64_t kBytesPerCall = 4 * 64;
#if defined(__x86_64__)
  for (int64_t offset = 0; offset < std::min(range->bytes, kBytesPerCall); offset += 64)
    _mm_prefetch(reinterpret_cast<const char*>(range->begin + offset), _MM_HINT_T1);
#endif
  range->begin += kBytesPerCall;
  range->bytes -= kBytesPerCall;
  return true;
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  remaining_ = std::vector<Remaining>(num_threads_);
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

namespace {
constexpr uint64_t pack(uint64_t begin, uint64_t end) {
  return begin << 32 | end;
}
constexpr uint64_t range_begin(uint64_t range) {
  return range >> 32;
}
constexpr uint64_t range_end(uint64_t range) {
  return range & 0xffffffffu;
}
// Takes grains from the front of a thread's own range, or one from the back of another's; false when
// the range is empty. The owner takes a quarter of what is left (at least two grains): few calls while
// much is left, and small pieces near the end, where a faster thread may take some.
bool claim(std::atomic<uint64_t>& remaining, bool front, uint64_t* first, uint64_t* last) {
  uint64_t range = remaining.load(std::memory_order_relaxed);
  while (true) {
    const uint64_t begin = range_begin(range), end = range_end(range);
    if (begin >= end) return false;
    const uint64_t taken = front ? std::min(end - begin, std::max<uint64_t>(2, (end - begin) / 4)) : 1;
    const uint64_t next = front ? pack(begin + taken, end) : pack(begin, end - taken);
    if (remaining.compare_exchange_weak(range, next, std::memory_order_relaxed)) {
      *first = front ? begin : end - taken;
      *last = *first + taken;
      return true;
    }
  }
}
}  // namespace

void ThreadPool::run_part(int index) {
  if (index >= job_parts_) return;
  if (job_balanced_) return run_balanced_part(index);
  int64_t begin, end;
  split_range(job_count_, job_grain_, job_parts_, index, &begin, &end);
  if (begin < end) (*job_)(index, begin, end);
}

void ThreadPool::run_balanced_part(int index) {
  const auto run = [&](uint64_t first, uint64_t last) {
    (*job_)(index, static_cast<int64_t>(first) * job_grain_,
            std::min(job_count_, static_cast<int64_t>(last) * job_grain_));
  };
  uint64_t first, last;
  while (claim(remaining_[index].range, true, &first, &last)) run(first, last);
  for (int step = 1; step < job_parts_; ++step) {
    std::atomic<uint64_t>& other = remaining_[(index + step) % job_parts_].range;
    while (claim(other, false, &first, &last)) run(first, last);
  }
}

PrefetchRange ThreadPool::planned_prefetch(int index) const {
  return job_prefetch_ != nullptr ? (*job_prefetch_)(index) : PrefetchRange{};
}

void ThreadPool::run_job(int64_t count, int64_t grain, bool balanced,
                         const std::function<void(int, int64_t, int64_t)>& fn, const PrefetchPlan* then) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t units = (count + grain - 1) / grain;
  const int parts = static_cast<int>(std::min<int64_t>(units, num_threads_));
  if (parts <= 1) {
    fn(0, 0, count);
    return;
  }
  if (balanced && units > int64_t{0xffffffff})
    fail("parallel_for_balanced: ", units, " grains do not fit its counters");
  job_ = &fn;
  job_count_ = count;
  job_grain_ = grain;
  job_parts_ = parts;
  job_balanced_ = balanced;
  job_prefetch_ = then;
  if (balanced) {
    for (int i = 0; i < parts; ++i) {
      int64_t begin, end;
      split_range(units, 1, parts, i, &begin, &end);
      remaining_[i].range.store(pack(begin, end), std::memory_order_relaxed);
    }
  }
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_part(0);
  // Only while waiting: after the others are done the caller's own work is next.
  PrefetchRange next = planned_prefetch(0);
  while (pending_.load(std::memory_order_acquire) != 0)
    if (!prefetch_some(&next)) cpu_relax();
  job_ = nullptr;
  job_prefetch_ = nullptr;
}

void ThreadPool::parallel_for(int64_t count, int64_t grain,
                              const std::function<void(int, int64_t, int64_t)>& fn,
                              const PrefetchPlan* then) {
  run_job(count, grain, false, fn, then);
}

void ThreadPool::parallel_for_balanced(int64_t count, int64_t grain,
                                       const std::function<void(int, int64_t, int64_t)>& fn,
                                       const PrefetchPlan* then) {
  run_job(count, grain, true, fn, then);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  PrefetchRange next;
  while (true) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      if (!prefetch_some(&next)) cpu_relax();
      ++spins;
    }
    next = PrefetchRange{};
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load()) return;
    run_part(index);
    next = planned_prefetch(index);  // before reporting done: the plan is the caller's
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace cpm
