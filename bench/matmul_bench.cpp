// Matrix-vector (decode), few-row (batched decode) and matrix-matrix (prefill) products on MiniCPM3-4B's MLP
// shapes (gate/up 6400 x 2560, down 2560 x 6400), for every weight format, and for float weights in the
// fastest summation order (the packed GEMM, prefill without --enable-deterministic-inference; bf16 also with
// --enable-bf16-prefill's rounded activations). Arguments:
// rows, threads, shape (0 = gate, 1 = down). Reports weight bytes streamed per second, FLOP/s of wall time,
// and FLOP per second of process CPU time times the thread count (what wall time would give on an unshared
// machine).
//
//   build/bench/matmul_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ctime>
#include <map>
#include <random>
#include <tuple>

#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "kernels/row_groups.h"
#include "model/weight_conversion.h"

namespace cpm {
namespace {

struct Fixture {
  std::vector<float> source;
  std::vector<uint8_t> storage;
  LargeBuffer grouped;
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
  // As the model places its weights: block formats grouped by eight rows where matmul prefers it.
  if (matmul_prefers_row_groups(f.matrix)) f.matrix = group_rows(f.matrix, &f.grouped, pool);
  return f;
}

double process_cpu_seconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

void run(benchmark::State& state, DType dtype, SummationOrder order = SummationOrder::kBatchInvariant) {
  const int64_t tokens = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  ThreadPool pool(threads);
  const bool down = state.range(2) == 1;
  const int64_t out = down ? 2560 : 6400, in = down ? 6400 : 2560;
  // One matrix per format and shape for the whole process: quantizing it costs more than the runs.
  static std::map<std::tuple<DType, int64_t, int64_t>, Fixture> cache;
  auto [entry, added] = cache.try_emplace({dtype, out, in});
  if (added) entry->second = make(dtype, out, in, pool);
  const Fixture& f = entry->second;
  std::vector<float> x(tokens * in), y(tokens * out);
  std::mt19937 random(2);
  std::normal_distribution<float> normal(0, 1);
  for (float& v : x) v = normal(random);
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    matmul(pool, x.data(), tokens, f.matrix, y.data(), order);
    benchmark::DoNotOptimize(y.data());
  }
  const double cpu_seconds = process_cpu_seconds() - cpu_start;
  const double iterations = static_cast<double>(state.iterations());
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(f.matrix.num_bytes()) * iterations, benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * out * in * tokens * iterations / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/cpu_s"] = 2.0 * out * in * tokens * iterations / 1e9 / cpu_seconds * threads;
}

void f32(benchmark::State& s) {
  run(s, DType::kF32);
}
void bf16(benchmark::State& s) {
  run(s, DType::kBF16);
}
void f32_fastest(benchmark::State& s) {
  run(s, DType::kF32, SummationOrder::kFastest);
}
void bf16_fastest(benchmark::State& s) {
  run(s, DType::kBF16, SummationOrder::kFastest);
}
// --enable-bf16-prefill: activations rounded to bf16, vdpbf16ps where the CPU has AVX512_BF16.
void bf16_fastest_bf16(benchmark::State& s) {
  run(s, DType::kBF16, SummationOrder::kFastestBf16);
}
void q8_0(benchmark::State& s) {
  run(s, DType::kQ8_0);
}
void q4_0(benchmark::State& s) {
  run(s, DType::kQ4_0);
}

#define SHAPES \
  ->ArgsProduct({{1, 2, 3, 4, 8, 16, 64, 512}, {1, 2}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(f32) SHAPES;
BENCHMARK(bf16) SHAPES;
#define PREFILL_SHAPES \
  ->ArgsProduct({{64, 512}, {1, 2}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(f32_fastest) PREFILL_SHAPES;
BENCHMARK(bf16_fastest) PREFILL_SHAPES;
BENCHMARK(bf16_fastest_bf16) PREFILL_SHAPES;
BENCHMARK(q8_0) SHAPES;
BENCHMARK(q4_0) SHAPES;

}  // namespace
}  // namespace cpm

BENCHMARK_MAIN();
