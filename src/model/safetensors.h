// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON header
// mapping tensor names to {dtype, shape, data_offsets}, then the raw bytes. Reading maps the file;
// tensors point into the mapping.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace cpm {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t num_bytes = 0;
  std::string file;  // for error messages

  int64_t num_elements() const;
  std::string shape_string() const;
};

class SafetensorsFile {
 public:
  // Maps and validates the whole header; throws cpm::Error naming the file on any inconsistency.
  explicit SafetensorsFile(const std::string& path);

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint folder: model.safetensors, or the shards listed by
// model.safetensors.index.json.
class CheckpointFiles {
 public:
  explicit CheckpointFiles(const std::string& model_dir);

  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, const TensorInfo*>& tensors() const { return by_name_; }
  // Metadata of the first file (quantized checkpoints record their format here).
  const std::map<std::string, std::string>& metadata() const { return files_.front()->metadata(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> by_name_;
};

// Writes tensors in order into one safetensors file (8-byte aligned data). Tensor bytes are either
// given up front or produced one tensor at a time while writing, so an 8 GB checkpoint never has to
// sit in memory whole.
class SafetensorsWriter {
 public:
  using Producer = std::function<std::vector<uint8_t>()>;
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  // `num_bytes` must equal the size of what `produce` returns.
  void add_produced(const std::string& name, DType dtype, std::vector<int64_t> shape, int64_t num_bytes,
                    Producer produce);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  // Throws cpm::Error when the file cannot be written.
  void write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    int64_t num_bytes;
    Producer produce;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace cpm
