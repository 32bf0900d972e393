// Heap memory for large copies of weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace cpm {

// Uninitialized bytes, 2 MB aligned and marked for transparent huge pages where the kernel offers
// them: filling a few GB then takes a page fault per 2 MB instead of per 4 KB, and streaming it
// through the cores misses the TLB less. Throws cpm::Error when the memory cannot be had.
class LargeBuffer {
 public:
  LargeBuffer() = default;
  explicit LargeBuffer(size_t bytes);

  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

  // Bytes of the buffer the kernel backs with huge pages now, from /proc/self/smaps (each mapping's
  // AnonHugePages, at most its overlap with the buffer); -1 where that file cannot be read.
  int64_t huge_page_bytes() const;
  // Asks the kernel to move the buffer's small pages into huge pages now (MADV_COLLAPSE, Linux 6.1+):
  // on fragmented memory a page fault falls back to 4 KB pages, and decode then streams them slower.
  // Pages already huge cost nothing. Returns whether the kernel reported success for the whole buffer
  // (where it did not, part of it may still have been collapsed: huge_page_bytes tells).
  bool collapse_to_huge_pages();

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace cpm
