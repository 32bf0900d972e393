// A read-only memory map of a whole file: weights are used in place, never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cpm {

class MappedFile {
 public:
  // Throws cpm::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops the pages wholly inside [begin, begin + size) of a read-only file mapping from this process's
// resident memory (the page cache keeps them; a later read maps them again). For weights the process
// has copied into another layout and will not read here again.
void release_mapped_pages(const void* begin, size_t size);

}  // namespace cpm
