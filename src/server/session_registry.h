// The generations in flight by the id of their HTTP request (sglang's `rid`, or the `id` an OpenAI
// response carries), so another connection can abort them (POST /abort_request) and a client's own
// rid cannot name two requests at once.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace cpm {

class Engine;

class SessionRegistry {
 public:
  // Holds `id` and the engine requests it stands for until release(id). Throws cpm::Error when a
  // request in flight holds `id` or one of `request_ids` already.
  void claim(const std::string& id, const std::vector<std::string>& request_ids);
  void release(const std::string& id);

  // Asks the engine to abort the requests of `id` (they finish with "abort"); false for an id not in
  // flight (unknown, or finished already).
  bool abort(Engine& engine, const std::string& id);
  // The same for every id in flight; returns how many.
  size_t abort_all(Engine& engine);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::string>> requests_;  // id -> its engine requests
  std::unordered_set<std::string> request_ids_;                         // every engine request held
};

}  // namespace cpm
