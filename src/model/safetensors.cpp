#include "model/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"

namespace cpm {

namespace {

using nlohmann::json;

// Our quantized formats are stored under ggml-like dtype names; plain ones under safetensors names.
std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kQ8_0:
      return "Q8_0";
    case DType::kQ4_0:
      return "Q4_0";
  }
  return "?";
}

// Quantized tensors keep their logical [rows, cols] shape; bytes follow from the block layout.
int64_t expected_bytes(const TensorInfo& tensor) {
  const int64_t elements = tensor.num_elements();
  const DTypeInfo& info = dtype_info(tensor.dtype);
  if (info.block_size == 1) return elements * info.block_bytes;
  if (tensor.shape.empty() || tensor.shape.back() % info.block_size != 0) return -1;
  return elements / info.block_size * info.block_bytes;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       const uint8_t* data, uint64_t data_size) {
  TensorInfo tensor;
  tensor.name = name;
  tensor.file = path;
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    fail(path, ": tensor \"", name, "\" header entry needs dtype, shape and data_offsets");
  }
  if (!entry["dtype"].is_string() || !parse_dtype(entry["dtype"].get<std::string>(), &tensor.dtype)) {
    fail(path, ": tensor \"", name, "\" has unsupported dtype ", entry["dtype"].dump(),
         " (supported: F32, F16, BF16, Q8_0, Q4_0)");
  }
  if (!entry["shape"].is_array()) fail(path, ": tensor \"", name, "\" shape is not a list");
  for (const json& dim : entry["shape"]) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0 || dim.get<int64_t>() > (int64_t{1} << 40)) {
      fail(path, ": tensor \"", name, "\" has an invalid shape ", entry["shape"].dump());
    }
    tensor.shape.push_back(dim.get<int64_t>());
  }
  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail(path, ": tensor \"", name, "\" data_offsets must be two non-negative integers");
  }
  const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    fail(path, ": tensor \"", name, "\" data [", begin, ", ", end, ") lies outside the ", data_size,
         " data bytes of the file (truncated file?)");
  }
  tensor.data = data + begin;
  tensor.num_bytes = static_cast<int64_t>(end - begin);
  if (expected_bytes(tensor) != tensor.num_bytes) {
    fail(path, ": tensor \"", name, "\" has ", tensor.num_bytes, " bytes but shape ", tensor.shape_string(),
         " of ", dtype_name(tensor.dtype), " needs ", expected_bytes(tensor));
  }
  return tensor;
}

}  // namespace

int64_t TensorInfo::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string TensorInfo::shape_string() const {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  if (file_.size() < 8) fail(path, ": too short for a safetensors file (", file_.size(), " bytes)");
  uint64_t header_size = 0;
  std::memcpy(&header_size, file_.data(), 8);  // little-endian on every platform we build for
  if (header_size > file_.size() - 8 || header_size > (uint64_t{100} << 20)) {
    fail(path, ": bad safetensors header: header length ", header_size, " exceeds the file size ",
         file_.size(), " (truncated or not a safetensors file)");
  }
  json header;
  try {
    header = json::parse(file_.data() + 8, file_.data() + 8 + header_size);
  } catch (const json::parse_error& error) {
    fail(path, ": bad safetensors header: ", error.what());
  }
  if (!header.is_object()) fail(path, ": bad safetensors header: not a JSON object");
  const uint8_t* data = file_.data() + 8 + header_size;
  const uint64_t data_size = file_.size() - 8 - header_size;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, ": __metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(path, ": __metadata__ value for \"", key, "\" is not a string");
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    tensors_.emplace(name, parse_entry(path, name, entry, data, data_size));
  }
}

CheckpointFiles::CheckpointFiles(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path index_path = dir / "model.safetensors.index.json";
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> index_map;
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    std::stringstream text;
    text << in.rdbuf();
    json index;
    try {
      index = json::parse(text.str());
    } catch (const json::parse_error& error) {
      fail(index_path.string(), ": malformed JSON: ", error.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      fail(index_path.string(), ": missing \"weight_map\" object");
    }
    std::set<std::string> seen;
    for (const auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string())
        fail(index_path.string(), ": weight_map entry for \"", name, "\" is not a file name");
      index_map[name] = file.get<std::string>();
      if (seen.insert(file.get<std::string>()).second) shard_names.push_back(file.get<std::string>());
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else {
    fail(model_dir, ": no model.safetensors or model.safetensors.index.json");
  }
  if (shard_names.empty()) fail(index_path.string(), ": weight_map lists no files");
  for (const std::string& shard : shard_names) {
    if (shard.find('/') != std::string::npos)
      fail(index_path.string(), ": shard name \"", shard, "\" is not a file name");
    files_.push_back(std::make_unique<SafetensorsFile>((dir / shard).string()));
    for (const auto& [name, tensor] : files_.back()->tensors()) {
      if (!by_name_.emplace(name, &tensor).second)
        fail(tensor.file, ": tensor \"", name, "\" appears in two shards");
    }
  }
  for (const auto& [name, file] : index_map) {
    const TensorInfo* tensor = find(name);
    if (tensor == nullptr || fs::path(tensor->file).filename() != file) {
      fail(index_path.string(), ": tensor \"", name, "\" is listed in ", file, " but not found there");
    }
  }
}

const TensorInfo* CheckpointFiles::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            std::vector<uint8_t> bytes) {
  const int64_t num_bytes = static_cast<int64_t>(bytes.size());
  auto shared = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  entries_.push_back({name, dtype, std::move(shape), num_bytes, [shared] { return *shared; }});
}

void SafetensorsWriter::add_produced(const std::string& name, DType dtype, std::vector<int64_t> shape,
                                     int64_t num_bytes, Producer produce) {
  entries_.push_back({name, dtype, std::move(shape), num_bytes, std::move(produce)});
}

void SafetensorsWriter::write(const std::string& path) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry& entry : entries_) {
    header[entry.name] = {{"dtype", safetensors_dtype_name(entry.dtype)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + static_cast<uint64_t>(entry.num_bytes)}}};
    offset += static_cast<uint64_t>(entry.num_bytes);
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // keep tensor data 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, ": cannot open for writing");
  const uint64_t header_size = header_text.size();
  out.write(reinterpret_cast<const char*>(&header_size), 8);
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const Entry& entry : entries_) {
    const std::vector<uint8_t> bytes = entry.produce();
    if (static_cast<int64_t>(bytes.size()) != entry.num_bytes) {
      fail("internal: tensor \"", entry.name, "\" produced ", bytes.size(), " bytes, declared ",
           entry.num_bytes);
    }
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  if (!out.flush()) fail(path, ": write failed (disk full?)");
}

}  // namespace cpm
