// A 64-bit fingerprint of a checkpoint folder, cheap enough to take at every start: the ranks of a
// tensor-parallel group compare theirs to refuse a rank that was given a different checkpoint.
#pragma once

#include <cstdint>
#include <string>

namespace cpm {

// Hashes config.json and, for every tensor, its name, dtype, shape and a sample of its bytes (the
// first and last few KiB): different shapes, formats or trained values all change it, without
// reading gigabytes. Throws cpm::Error if the folder is not a readable checkpoint.
uint64_t checkpoint_fingerprint(const std::string& model_dir);

// FNV-1a over `size` bytes, continuing from `hash` (start with kFnvOffsetBasis).
constexpr uint64_t kFnvOffsetBasis = 14695981039346656037ull;
uint64_t fnv1a(const void* data, size_t size, uint64_t hash = kFnvOffsetBasis);

}  // namespace cpm
