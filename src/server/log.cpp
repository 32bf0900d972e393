#include "server/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "core/error.h"

namespace cpm {

namespace {
std::atomic<LogLevel> current_level{LogLevel::kInfo};
std::mutex output_mutex;
}  // namespace

LogLevel parse_log_level(const std::string& text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warning") return LogLevel::kWarning;
  if (text == "error") return LogLevel::kError;
  fail("unknown log level \"", text, "\" (debug, info, warning or error)");
}

void set_log_level(LogLevel level) {
  current_level = level;
}

void log_message(LogLevel level, const std::string& message) {
  if (level < current_level.load()) return;
  static const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
  std::lock_guard<std::mutex> lock(output_mutex);
  std::fprintf(stderr, "[%s] %s %s\n", stamp, kNames[static_cast<int>(level)], message.c_str());
  std::fflush(stderr);
}

}  // namespace cpm
