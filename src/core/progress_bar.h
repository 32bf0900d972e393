// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace cpm {

class ProgressBar {
 public:
  // Draws only when `show` is set and stderr is a terminal.
  ProgressBar(std::string label, int64_t total, bool show = true)
      : label_(std::move(label)), total_(total), enabled_(show && ::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() { finish(); }

  // Thread-safe; redraws at most ten times a second.
  void advance(int64_t count = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ += count;
    const auto now = std::chrono::steady_clock::now();
    if (enabled_ && (done_ >= total_ || now - last_draw_ > std::chrono::milliseconds(100))) {
      last_draw_ = now;
      draw();
    }
  }
  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (enabled_ && !finished_) {
      draw();
      std::fputc('\n', stderr);
    }
    finished_ = true;
  }

 private:
  void draw() const {
    constexpr int kWidth = 30;
    const int filled = total_ > 0 ? static_cast<int>(kWidth * std::min(done_, total_) / total_) : kWidth;
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), static_cast<long long>(done_),
                 static_cast<long long>(total_));
    std::fflush(stderr);
  }

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  std::mutex mutex_;
};

}  // namespace cpm
