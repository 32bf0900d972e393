// Writing GGUF v3 files, the container llama.cpp (ggml) loads: "GGUF", version 3, tensor and
// metadata counts, typed key/value metadata, one info record per tensor (name, dimensions innermost
// first, ggml type, offset), then the tensor data, each tensor starting on an `alignment` boundary
// of the data section. All integers are little-endian, strings are a uint64 length plus bytes.
// Tensor bytes are produced one tensor at a time while writing, so a checkpoint larger than memory
// can be exported.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace cpm {

// GGUF metadata value types (gguf.h's gguf_type).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// ggml's type number for a cpmserve storage type (every DType has one, with the same bytes).
uint32_t ggml_type_of(DType dtype);

class GgufWriter {
 public:
  static constexpr uint32_t kVersion = 3;
  static constexpr uint32_t kDefaultAlignment = 32;  // what readers assume without general.alignment

  void add_uint32(const std::string& key, uint32_t value);
  void add_int32(const std::string& key, int32_t value);
  void add_float32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string(const std::string& key, const std::string& value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  void add_float32_array(const std::string& key, const std::vector<float>& values);
  void add_int32_array(const std::string& key, const std::vector<int32_t>& values);

  // `produce` must return exactly the bytes of a row-major [rows, cols] (or [n]) tensor of `dtype`;
  // `shape` is given outermost first, as in safetensors, and written innermost first, as ggml wants.
  using Producer = std::function<std::vector<uint8_t>()>;
  void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape, Producer produce);

  size_t num_tensors() const { return tensors_.size(); }
  size_t num_metadata() const { return num_metadata_; }

  // Writes to `path` through `path`.partial, renamed at the end so an interrupted export never
  // leaves a file that looks complete. Throws cpm::Error naming the path when it cannot be written.
  void write(const std::string& path, bool show_progress = false) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t num_bytes;
    Producer produce;
  };
  void begin_key(const std::string& key, GgufValueType type);

  std::string metadata_;  // the serialized key/value records
  size_t num_metadata_ = 0;
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
};

}  // namespace cpm
