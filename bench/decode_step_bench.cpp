// Decode's weight products in a MiniCPM3-4B layer's order (q_a and kv_a, q_b, o_proj, gate and up,
// down), one activation row, over enough layers that the weights come from memory, with and without
// telling each product the next one's weights (kernels/matmul.h, NextWeights: threads ask for their
// share of them while they wait). The two ways alternate layer pass by layer pass within one run, so
// the machine's drifting bandwidth moves both alike; the counters give each one's median pass and the
// median of the per-pair ratios. Arguments: weight format (0 = q4_0, 1 = q8_0), layers, threads.
//
//   build/bench/decode_step_bench --benchmark_min_time=5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/row_groups.h"
#include "model/weight_conversion.h"

namespace cpm {
namespace {

struct Weight {
  std::vector<uint8_t> storage;
  LargeBuffer grouped;
  MatrixView matrix;
};

// Placed as the model places its weights (block formats grouped by eight rows).
void make(DType dtype, int64_t rows, int64_t cols, ThreadPool& pool, std::mt19937& random, Weight* w) {
  std::normal_distribution<float> normal(0, 0.02f);
  std::vector<float> source(rows * cols);
  for (float& v : source) v = normal(random);
  w->matrix =
      convert_matrix(make_matrix_view(DType::kF32, rows, cols, source.data()), dtype, &w->storage, pool, "w");
  if (matmul_prefers_row_groups(w->matrix)) w->matrix = group_rows(w->matrix, &w->grouped, pool);
}

struct Layer {
  Weight q_a, kv_a, q_b, o, gate, up, down;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void decode_step(benchmark::State& state) {
  const DType dtype = state.range(0) == 0 ? DType::kQ4_0 : DType::kQ8_0;
  const int64_t num_layers = state.range(1);
  ThreadPool pool(static_cast<int>(state.range(2)));
  std::mt19937 random(1);
  std::vector<Layer> layers(num_layers);
  for (Layer& l : layers) {
    make(dtype, 768, 2560, pool, random, &l.q_a);
    make(dtype, 288, 2560, pool, random, &l.kv_a);
    make(dtype, 3840, 768, pool, random, &l.q_b);
    make(dtype, 2560, 2560, pool, random, &l.o);
    make(dtype, 6400, 2560, pool, random, &l.gate);
    make(dtype, 6400, 2560, pool, random, &l.up);
    make(dtype, 2560, 6400, pool, random, &l.down);
  }
  std::vector<float> x(6400, 0.5f), y(6400), z(6400);
  const auto order = SummationOrder::kBatchInvariant;
  const auto pass = [&](bool hinted) {
    const auto next = [&](NextWeights weights) { return hinted ? weights : NextWeights{}; };
    for (int64_t i = 0; i < num_layers; ++i) {
      const Layer& l = layers[i];
      const Layer& n = layers[(i + 1) % num_layers];
      matmul_same_input(pool, x.data(), 1, 2560,
                        {{&l.q_a.matrix, y.data(), 768}, {&l.kv_a.matrix, z.data(), 288}}, order,
                        next({&l.q_b.matrix}));
      matmul(pool, x.data(), 1, l.q_b.matrix, y.data(), order, next({&l.o.matrix}));
      matmul(pool, x.data(), 1, l.o.matrix, y.data(), order, next({&l.gate.matrix, &l.up.matrix}));
      matmul_same_input(pool, x.data(), 1, 2560,
                        {{&l.gate.matrix, y.data(), 6400}, {&l.up.matrix, z.data(), 6400}}, order,
                        next({&l.down.matrix}));
      matmul(pool, x.data(), 1, l.down.matrix, y.data(), order, next({&n.q_a.matrix, &n.kv_a.matrix}));
    }
    benchmark::DoNotOptimize(y.data());
  };
  std::vector<double> with, without, ratios;
  bool hinted_first = false;
  for (auto _ : state) {
    double seconds[2];
    for (bool hinted : {hinted_first, !hinted_first}) {
      const auto start = std::chrono::steady_clock::now();
      pass(hinted);
      seconds[hinted] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    hinted_first = !hinted_first;
    without.push_back(seconds[0]);
    with.push_back(seconds[1]);
    ratios.push_back(seconds[1] / seconds[0]);
  }
  int64_t bytes = 0;
  for (const Layer& l : layers)
    for (const Weight* w : {&l.q_a, &l.kv_a, &l.q_b, &l.o, &l.gate, &l.up, &l.down})
      bytes += w->matrix.num_bytes();
  state.counters["weight_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["with_next_ms"] = median(with) * 1e3;
  state.counters["without_ms"] = median(without) * 1e3;
  state.counters["with_next_GB/s"] = static_cast<double>(bytes) / median(with) / 1e9;
  state.counters["with/without"] = median(ratios);
}

BENCHMARK(decode_step)->ArgsProduct({{0, 1}, {8}, {2}})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace cpm

BENCHMARK_MAIN();
