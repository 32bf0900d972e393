// One layer's attention on MiniCPM3-4B shapes (40 heads, kv_lora_rank 256, qk 64 + 32, v 64), 2
// threads; multiply by 62 layers for a whole model step.
// - latent, materialized: one decode step at several context lengths, for each backend;
//   latent_62_layers: the same through a 62-layer cache, so the rows come from memory.
// - prefill_chunk/absorbed, prefill_chunk/expanded: a chunk of 512 new tokens after 0 to 7,680 cached
//   ones, through the latent backend absorbed (deterministic inference) or expanded into per-head K
//   and V (the default; past 3,744 context rows its heads are expanded in groups).
//
//   build/bench/attention_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <random>

#include "model/attention_backend.h"
#include "model/latent_attention.h"
#include "model/random_checkpoint.h"

namespace cpm {
namespace {

ModelConfig minicpm3_4b() {
  return ModelConfig::from_json_text(random_checkpoint_config("minicpm3-4b").dump(), "minicpm3-4b preset");
}

std::vector<float> random_floats(size_t count, uint32_t seed, float scale) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(random);
  return values;
}

// kv_b_proj in bf16, as the checkpoint stores it, in `storage`; returns a layer that views it.
LayerWeights random_kv_b_proj(const ModelConfig& config, std::vector<uint16_t>* storage) {
  const int64_t rows = config.num_attention_heads * (config.qk_nope_head_dim + config.v_head_dim);
  const std::vector<float> values = random_floats(rows * config.kv_lora_rank, 1, 0.05f);
  storage->resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) (*storage)[i] = f32_to_bf16(values[i]);
  LayerWeights layer;
  layer.kv_b_proj = make_matrix_view(DType::kBF16, rows, config.kv_lora_rank, storage->data());
  return layer;
}

// Slots 0 .. count - 1, in order.
std::vector<int32_t> sequential_slots(int64_t count) {
  std::vector<int32_t> slots(count);
  for (int64_t i = 0; i < count; ++i) slots[i] = static_cast<int32_t>(i);
  return slots;
}

// One decode step's attention per iteration, in layer `iteration % layers` of a cache with `layers`
// layers: with MiniCPM3-4B's 62 the rows come from memory, as in a model's step, not from the L3 that
// one layer's rows fit.
void decode_attention(benchmark::State& state, const char* backend_name, int64_t layers = 1) {
  const int64_t context = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const ModelConfig config = minicpm3_4b();
  ThreadPool pool(threads);
  auto backend = make_attention_backend(backend_name, config, pool);
  const int64_t heads = config.num_attention_heads, rank = config.kv_lora_rank;
  const int64_t width = rank + config.qk_rope_head_dim;
  std::vector<uint16_t> kv_b;
  const LayerWeights layer = random_kv_b_proj(config, &kv_b);

  KvCache cache(layers, context, backend->cache_row_width(), DType::kF32);
  const std::vector<float> row = random_floats(backend->cache_row_width(), 2, 1.0f);
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t slot = 0; slot < context; ++slot) cache.write_row(l, slot, row.data());
  const std::vector<int32_t> slots = sequential_slots(context);
  ForwardBatch batch;
  batch.token_ids = {0};
  batch.sequences.push_back({0, 1, context - 1, slots.data()});
  const std::vector<float> queries = random_floats(heads * config.qk_head_dim(), 3, 1.0f);
  const std::vector<float> compressed = random_floats(width, 4, 1.0f);
  std::vector<float> out(heads * config.v_head_dim);
  int64_t step = 0;
  for (auto _ : state) {
    backend->attend(step++ % layers, layer, batch, AttentionInputs{queries.data(), compressed.data(), width},
                    cache, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double cache_bytes = static_cast<double>(context) * backend->cache_row_width() * sizeof(float);
  state.counters["kv_bytes_per_token"] = static_cast<double>(backend->cache_row_width() * sizeof(float));
  state.counters["cache_GB/s"] = benchmark::Counter(cache_bytes * static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void latent(benchmark::State& state) {
  decode_attention(state, "latent");
}
void latent_62_layers(benchmark::State& state) {
  decode_attention(state, "latent", 62);
}
void materialized(benchmark::State& state) {
  decode_attention(state, "materialized");
}

void prefill_chunk(benchmark::State& state, bool expanded) {
  const int64_t cached = state.range(0), fresh = 512, context = cached + fresh;
  const ModelConfig config = minicpm3_4b();
  ThreadPool pool(2);
  LatentAttention attention(config, pool, expanded);
  const int64_t heads = config.num_attention_heads;
  const int64_t width = attention.cache_row_width();
  std::vector<uint16_t> kv_b;
  const LayerWeights layer = random_kv_b_proj(config, &kv_b);
  KvCache cache(1, context, width, DType::kF32);
  const std::vector<float> row = random_floats(width, 2, 1.0f);
  for (int64_t slot = 0; slot < cached; ++slot) cache.write_row(0, slot, row.data());
  const std::vector<int32_t> slots = sequential_slots(context);
  ForwardBatch batch;
  batch.token_ids.assign(fresh, 0);
  batch.sequences.push_back({0, fresh, cached, slots.data()});
  const std::vector<float> queries = random_floats(fresh * heads * config.qk_head_dim(), 3, 1.0f);
  const std::vector<float> compressed = random_floats(fresh * width, 4, 1.0f);
  std::vector<float> out(fresh * heads * config.v_head_dim);
  for (auto _ : state) {
    attention.attend(0, layer, batch, AttentionInputs{queries.data(), compressed.data(), width}, cache,
                     out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["heads_per_expansion"] = static_cast<double>(attention.heads_per_expansion(context));
}

void prefill_chunk_absorbed(benchmark::State& state) {
  prefill_chunk(state, false);
}
void prefill_chunk_expanded(benchmark::State& state) {
  prefill_chunk(state, true);
}

#define CONTEXTS ->ArgsProduct({{512, 4096, 16384}, {2}})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(latent) CONTEXTS;
BENCHMARK(latent_62_layers) CONTEXTS;
BENCHMARK(materialized) CONTEXTS;
#define CACHED ->Arg(0)->Arg(3584)->Arg(7680)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2)
BENCHMARK(prefill_chunk_absorbed) CACHED;
BENCHMARK(prefill_chunk_expanded) CACHED;

}  // namespace
}  // namespace cpm

BENCHMARK_MAIN();
