// A fixed set of worker threads for data-parallel loops. The calling thread takes part in the work,
// so a pool of N threads starts N - 1 workers. Workers spin briefly before sleeping, because a model
// step issues hundreds of short parallel loops and a wake-up through the kernel costs more than most.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cpm {

// Memory a thread asks for into its L2 once its part of a loop is done, until the next loop starts or
// all of it is asked for. Decode's products stream weights from memory; a thread that asks for its
// share of the next product while it waits for the other, or while the caller does the serial work
// between products, keeps the memory busy through those gaps.
struct PrefetchRange {
  const uint8_t* begin = nullptr;
  int64_t bytes = 0;
};
// Thread index -> the range that thread asks for. Called on that thread before it reports its part
// done, so it may read the caller's state.
using PrefetchPlan = std::function<PrefetchRange(int thread_index)>;

class ThreadPool {
 public:
  // num_threads <= 0 means all hardware threads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(thread_index, begin, end) over a static split of [0, count) into one contiguous range
  // per thread, boundaries rounded to `grain`. Returns when all ranges are done. Not reentrant.
  // `then`, when given, names what each thread asks for after its part (PrefetchRange).
  void parallel_for(int64_t count, int64_t grain,
                    const std::function<void(int thread_index, int64_t begin, int64_t end)>& fn,
                    const PrefetchPlan* then = nullptr);

  // The same loop balanced at run time, for loops whose threads may run at different speeds (streaming
  // from memory, one core shares its bandwidth unevenly). Each thread starts on its static range and
  // takes it in shrinking pieces; a thread that runs out takes single grains from the end of another
  // thread's range. fn is called several times per thread, on disjoint ranges covering [0, count).
  void parallel_for_balanced(int64_t count, int64_t grain,
                             const std::function<void(int thread_index, int64_t begin, int64_t end)>& fn,
                             const PrefetchPlan* then = nullptr);

  // The range that thread `index` of `parts` gets when [0, count) is split in `grain` multiples.
  static void split_range(int64_t count, int64_t grain, int parts, int index, int64_t* begin, int64_t* end);

 private:
  void worker_loop(int index);
  void run_part(int index);
  void run_balanced_part(int index);
  // Both loops: runs fn on the calling thread alone when there is one part, else as a job for all.
  void run_job(int64_t count, int64_t grain, bool balanced,
               const std::function<void(int, int64_t, int64_t)>& fn, const PrefetchPlan* then);
  PrefetchRange planned_prefetch(int index) const;

  // A balanced job's per-thread range of grains left, [begin, end) packed as two 32-bit halves so one
  // compare-and-swap claims from either end; one cache line each.
  struct alignas(64) Remaining {
    std::atomic<uint64_t> range{0};
  };

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  // The current job, published before generation_ is bumped.
  const std::function<void(int, int64_t, int64_t)>* job_ = nullptr;
  int64_t job_count_ = 0;
  int64_t job_grain_ = 1;
  int job_parts_ = 1;
  bool job_balanced_ = false;
  const PrefetchPlan* job_prefetch_ = nullptr;
  std::vector<Remaining> remaining_;
};

}  // namespace cpm
