#include "model/weight_conversion.h"

#include <cstring>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"

namespace cpm {

MatrixView convert_matrix(const MatrixView& source, DType target, std::vector<uint8_t>* storage,
                          ThreadPool& pool, const std::string& name) {
  const DTypeInfo& info = dtype_info(target);
  if (source.cols % info.block_size != 0) {
    fail("cannot store ", name, " as ", info.name, ": its width ", source.cols, " is not a multiple of ",
         info.block_size);
  }
  const int64_t row_bytes = dtype_bytes(target, source.cols);
  storage->resize(static_cast<size_t>(row_bytes * source.rows));
  uint8_t* out = storage->data();
  pool.parallel_for(source.rows, 64, [&](int, int64_t begin, int64_t end) {
    std::vector<float> row(source.cols);
    for (int64_t r = begin; r < end; ++r) {
      load_row(source, r, row.data());
      uint8_t* dest = out + r * row_bytes;
      switch (target) {
        case DType::kF32:
          std::memcpy(dest, row.data(), row_bytes);
          break;
        case DType::kBF16:
        case DType::kF16:
          for (int64_t i = 0; i < source.cols; ++i) {
            const uint16_t half = target == DType::kBF16 ? f32_to_bf16(row[i]) : f32_to_f16(row[i]);
            std::memcpy(dest + 2 * i, &half, 2);
          }
          break;
        case DType::kQ8_0:
          quantize_row_q8_0(row.data(), source.cols, reinterpret_cast<BlockQ8_0*>(dest));
          break;
        case DType::kQ4_0:
          quantize_row_q4_0(row.data(), source.cols, reinterpret_cast<BlockQ4_0*>(dest));
          break;
      }
    }
  });
  return MatrixView{target, source.rows, source.cols, out, row_bytes, MatrixLayout::kRows};
}

}  // namespace cpm
