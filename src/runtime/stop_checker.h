// Stop strings on detokenized text, matched across token boundaries. Text that could still become
// the start of a stop string is held back, so a streaming client never sees part of one.
#pragma once

#include <string>
#include <vector>

namespace cpm {

class StopChecker {
 public:
  explicit StopChecker(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds newly decoded text; returns the text that is safe to emit now. After a match, matched()
  // is true and the returned text ends right before the stop string.
  std::string add(const std::string& text);
  // Everything still held back (call when the request ends without a match).
  std::string flush();
  bool matched() const { return matched_; }
  const std::string& matched_stop() const { return matched_stop_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // text not emitted yet
  bool matched_ = false;
  std::string matched_stop_;
};

}  // namespace cpm
