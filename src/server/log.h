// Minimal leveled logging to stderr, one line per message.
#pragma once

#include <string>

namespace cpm {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Parses debug|info|warning|error; throws cpm::Error otherwise.
LogLevel parse_log_level(const std::string& text);
void set_log_level(LogLevel level);
void log_message(LogLevel level, const std::string& message);

}  // namespace cpm
