// Conversion of weight matrices between storage types at load: widening to f32, narrowing to bf16,
// and block quantization to q8_0 / q4_0.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace cpm {

// Converts `source` to `target` into `storage` (resized) and returns a view of it. Quantized targets
// need cols to be a multiple of 32 (throws cpm::Error naming `name` otherwise).
MatrixView convert_matrix(const MatrixView& source, DType target, std::vector<uint8_t>* storage,
                          ThreadPool& pool, const std::string& name);

}  // namespace cpm
