// Matrix-vector (decode) and matrix-matrix (prefill) products on a MiniCPM3-4B MLP shape, for every
// weight format. Reports weight bytes streamed per second and FLOP/s.
//
//   build/bench/matmul_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <random>

#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "model/weight_conversion.h"

namespace cpm {
namespace {

struct Fixture {
  std::vector<float> source;
  std::vector<uint8_t> storage;
  MatrixView matrix;
};

Fixture make(DType dtype, int64_t rows, int64_t cols, ThreadPool& pool) {
  Fixture f;
  std::mt19937 random(1);
  std::normal_distribution<float> normal(0, 0.02f);
  f.source.resize(rows * cols);
  for (float& v : f.source) v = normal(random);
  f.matrix = convert_matrix(make_matrix_view(DType::kF32, rows, cols, f.source.data()), dtype, &f.storage,
                            pool, "w");
  return f;
}

void run(benchmark::State& state, DType dtype) {
  const int64_t tokens = state.range(0);
  ThreadPool pool(static_cast<int>(state.range(1)));
  const int64_t out = 6400, in = 2560;  // gate_proj of MiniCPM3-4B
  Fixture f = make(dtype, out, in, pool);
  std::vector<float> x(tokens * in, 0.5f), y(tokens * out);
  for (auto _ : state) {
    matmul(pool, x.data(), tokens, f.matrix, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(f.matrix.num_bytes()) * iterations, benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * out * in * tokens * iterations / 1e9, benchmark::Counter::kIsRate);
}

void f32(benchmark::State& s) {
  run(s, DType::kF32);
}
void bf16(benchmark::State& s) {
  run(s, DType::kBF16);
}
void q8_0(benchmark::State& s) {
  run(s, DType::kQ8_0);
}
void q4_0(benchmark::State& s) {
  run(s, DType::kQ4_0);
}

#define SHAPES ->ArgsProduct({{1, 64}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(f32) SHAPES;
BENCHMARK(bf16) SHAPES;
BENCHMARK(q8_0) SHAPES;
BENCHMARK(q4_0) SHAPES;

}  // namespace
}  // namespace cpm

BENCHMARK_MAIN();
