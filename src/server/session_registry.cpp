#include "server/session_registry.h"

#include "core/error.h"
#include "runtime/engine.h"

namespace cpm {

void SessionRegistry::claim(const std::string& id, const std::vector<std::string>& request_ids) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto in_use = [&](const std::string& name) { return requests_.count(name) || request_ids_.count(name); };
  if (in_use(id)) fail("request id '", id, "' is already in flight");
  for (const std::string& request_id : request_ids) {
    if (in_use(request_id)) fail("request id '", request_id, "' is already in flight");
  }
  requests_.emplace(id, request_ids);
  request_ids_.insert(request_ids.begin(), request_ids.end());
}

void SessionRegistry::release(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = requests_.find(id);
  if (it == requests_.end()) return;
  for (const std::string& request_id : it->second) request_ids_.erase(request_id);
  requests_.erase(it);
}

bool SessionRegistry::abort(Engine& engine, const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = requests_.find(id);
  if (it == requests_.end()) return false;
  for (const std::string& request_id : it->second) engine.abort(request_id);  // finished ones are ignored
  return true;
}

size_t SessionRegistry::abort_all(Engine& engine) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, request_ids] : requests_) {
    for (const std::string& request_id : request_ids) engine.abort(request_id);
  }
  return requests_.size();
}

}  // namespace cpm
