// A flat open-addressing hash table from a pair of token ids to a merge, for the BPE hot loop
// (several times faster to probe than std::unordered_map's nodes).
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

namespace cpm {

struct MergeRule {
  int32_t rank;
  int32_t merged_id;
};

class PairTable {
 public:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  void reserve(size_t count) {
    slots_.assign(std::bit_ceil(count * 2 + 16), Slot{kEmpty, {}});
    shift_ = 64 - std::countr_zero(slots_.size());
    size_ = 0;
  }

  // Inserts or replaces.
  void set(int32_t left, int32_t right, MergeRule rule) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    Slot& slot = slots_[slot_index(key(left, right))];
    if (slot.key == kEmpty) ++size_;
    slot = {key(left, right), rule};
  }

  const MergeRule* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const Slot& slot = slots_[slot_index(key(left, right))];
    return slot.key == kEmpty ? nullptr : &slot.rule;
  }

  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so no key has all bits set
  struct Slot {
    uint64_t key;
    MergeRule rule;
  };

  // The slot holding `key`, or the empty slot where it belongs (linear probing from a Fibonacci hash).
  size_t slot_index(uint64_t key) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull) >> shift_;; i = (i + 1) & mask) {
      if (slots_[i].key == key || slots_[i].key == kEmpty) return i;
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.size());
    for (const Slot& slot : old) {
      if (slot.key != kEmpty) {
        slots_[slot_index(slot.key)] = slot;
        ++size_;
      }
    }
  }

  std::vector<Slot> slots_;
  int shift_ = 64;
  size_t size_ = 0;
};

}  // namespace cpm
