#include "model/checkpoint_fingerprint.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/safetensors.h"

namespace cpm {

uint64_t fnv1a(const void* data, size_t size, uint64_t hash) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

namespace {

uint64_t hash_text(const std::string& text, uint64_t hash) {
  return fnv1a(text.data(), text.size(), hash);
}

uint64_t hash_config(const std::string& model_dir, uint64_t hash) {
  const std::string path = model_dir + "/config.json";
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("cannot read ", path);
  std::ostringstream text;
  text << file.rdbuf();
  return hash_text(text.str(), hash);
}

}  // namespace

uint64_t checkpoint_fingerprint(const std::string& model_dir) {
  constexpr int64_t kSampleBytes = 4096;  // from each end of every tensor
  uint64_t hash = hash_config(model_dir, kFnvOffsetBasis);
  const CheckpointFiles files(model_dir);
  for (const auto& [name, tensor] : files.tensors()) {  // a std::map: sorted, the same on every rank
    hash = hash_text(name, hash);
    hash = hash_text(std::string(dtype_name(tensor->dtype)), hash);
    hash = hash_text(tensor->shape_string(), hash);
    const int64_t head = std::min(kSampleBytes, tensor->num_bytes);
    hash = fnv1a(tensor->data, static_cast<size_t>(head), hash);
    const int64_t tail = std::min(kSampleBytes, tensor->num_bytes - head);
    hash = fnv1a(tensor->data + tensor->num_bytes - tail, static_cast<size_t>(tail), hash);
  }
  return hash;
}

}  // namespace cpm
