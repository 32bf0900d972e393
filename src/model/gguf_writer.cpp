#include "model/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/progress_bar.h"

namespace cpm {

namespace {

// GGUF is little-endian; so is every machine cpmserve builds for (x86-64, AArch64).
template <typename T>
void put(std::string* out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

void put_string(std::string* out, const std::string& text) {
  put<uint64_t>(out, text.size());
  out->append(text);
}

uint64_t align_up(uint64_t offset, uint64_t alignment) {
  return (offset + alignment - 1) / alignment * alignment;
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

}  // namespace

uint32_t ggml_type_of(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ8_0:
      return 8;
    case DType::kBF16:
      return 30;
  }
  fail("no ggml type for dtype ", static_cast<int>(dtype));
}

void GgufWriter::begin_key(const std::string& key, GgufValueType type) {
  // llama.cpp refuses files with duplicate keys; catching it here names the key.
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end())
    fail("GGUF metadata key \"", key, "\" added twice");
  keys_.push_back(key);
  ++num_metadata_;
  put_string(&metadata_, key);
  put<uint32_t>(&metadata_, static_cast<uint32_t>(type));
}

void GgufWriter::add_uint32(const std::string& key, uint32_t value) {
  begin_key(key, GgufValueType::kUint32);
  put(&metadata_, value);
}

void GgufWriter::add_int32(const std::string& key, int32_t value) {
  begin_key(key, GgufValueType::kInt32);
  put(&metadata_, value);
}

void GgufWriter::add_float32(const std::string& key, float value) {
  begin_key(key, GgufValueType::kFloat32);
  put(&metadata_, value);
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  begin_key(key, GgufValueType::kBool);
  put<uint8_t>(&metadata_, value ? 1 : 0);
}

void GgufWriter::add_string(const std::string& key, const std::string& value) {
  begin_key(key, GgufValueType::kString);
  put_string(&metadata_, value);
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  begin_key(key, GgufValueType::kArray);
  put<uint32_t>(&metadata_, static_cast<uint32_t>(GgufValueType::kString));
  put<uint64_t>(&metadata_, values.size());
  for (const std::string& value : values) put_string(&metadata_, value);
}

void GgufWriter::add_float32_array(const std::string& key, const std::vector<float>& values) {
  begin_key(key, GgufValueType::kArray);
  put<uint32_t>(&metadata_, static_cast<uint32_t>(GgufValueType::kFloat32));
  put<uint64_t>(&metadata_, values.size());
  for (float value : values) put(&metadata_, value);
}

void GgufWriter::add_int32_array(const std::string& key, const std::vector<int32_t>& values) {
  begin_key(key, GgufValueType::kArray);
  put<uint32_t>(&metadata_, static_cast<uint32_t>(GgufValueType::kInt32));
  put<uint64_t>(&metadata_, values.size());
  for (int32_t value : values) put(&metadata_, value);
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            Producer produce) {
  if (shape.empty() || shape.size() > 4) fail("GGUF tensor \"", name, "\" must have 1 to 4 dimensions");
  for (const Tensor& tensor : tensors_) {
    if (tensor.name == name) fail("GGUF tensor \"", name, "\" added twice");
  }
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) outer *= shape[i];
  // dtype_bytes throws when the innermost dimension is not a whole number of blocks.
  const int64_t row_bytes = dtype_bytes(dtype, shape.back());
  tensors_.push_back({name, dtype, shape, static_cast<uint64_t>(outer * row_bytes), std::move(produce)});
}

void GgufWriter::write(const std::string& path, bool show_progress) const {
  std::string header = "GGUF";
  put<uint32_t>(&header, kVersion);
  put<uint64_t>(&header, tensors_.size());
  put<uint64_t>(&header, num_metadata_);
  header += metadata_;
  uint64_t offset = 0;
  for (const Tensor& tensor : tensors_) {
    put_string(&header, tensor.name);
    put<uint32_t>(&header, static_cast<uint32_t>(tensor.shape.size()));
    for (auto dim = tensor.shape.rbegin(); dim != tensor.shape.rend(); ++dim) put<uint64_t>(&header, *dim);
    put<uint32_t>(&header, ggml_type_of(tensor.dtype));
    put<uint64_t>(&header, offset);
    offset = align_up(offset + tensor.num_bytes, kDefaultAlignment);
  }
  header.resize(align_up(header.size(), kDefaultAlignment), '\0');

  const std::string partial = path + ".partial";
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(partial.c_str(), "wb"));
  if (!file) fail("cannot write ", path, ": ", std::strerror(errno));
  auto write_bytes = [&](const void* data, size_t size) {
    if (std::fwrite(data, 1, size, file.get()) != size) {
      const int error = errno;
      file.reset();
      std::remove(partial.c_str());
      fail("cannot write ", path, ": ", std::strerror(error));
    }
  };
  try {
    write_bytes(header.data(), header.size());
    ProgressBar progress("writing " + std::filesystem::path(path).filename().string(),
                         static_cast<int64_t>(tensors_.size()), show_progress);
    const std::vector<char> padding(kDefaultAlignment, '\0');
    for (const Tensor& tensor : tensors_) {
      const std::vector<uint8_t> bytes = tensor.produce();
      if (bytes.size() != tensor.num_bytes) {
        fail("GGUF tensor \"", tensor.name, "\": produced ", bytes.size(), " bytes, expected ",
             tensor.num_bytes);
      }
      write_bytes(bytes.data(), bytes.size());
      write_bytes(padding.data(), align_up(bytes.size(), kDefaultAlignment) - bytes.size());
      progress.advance();
    }
    if (std::fflush(file.get()) != 0) fail("cannot write ", path, ": ", std::strerror(errno));
  } catch (...) {
    file.reset();
    std::remove(partial.c_str());
    throw;
  }
  if (std::fclose(file.release()) != 0) {
    const int close_error = errno;
    std::remove(partial.c_str());
    fail("cannot write ", path, ": ", std::strerror(close_error));
  }
  std::error_code error;
  std::filesystem::rename(partial, path, error);
  if (error) {
    std::remove(partial.c_str());
    fail("cannot write ", path, ": ", error.message());
  }
}

}  // namespace cpm
