// Measures how many f32 multiply-adds per second the cores sustain, to put compute-bound work
// (attention over a long context, prefill) against its limit, the way memory_bandwidth.h does for
// weight streaming.
#pragma once

#include "core/thread_pool.h"

namespace cpm {

// Best of `repeats` runs of independent FMA chains on every thread of the pool, in FLOP/s (a
// multiply-add counts 2). Uses the widest FMA the kernels use: 512-bit where the CPU has AVX-512F
// (attention and the packed GEMM), else 256-bit where it has AVX2.
double measure_fma_peak(ThreadPool& pool, int repeats = 5);

namespace kernels {
// Runs `iterations` rounds of kFmaChains 8-wide (16-wide) FMAs; returns a value that depends on all
// of them, the same bits in every form.
inline constexpr int kFmaChains = 10;
// Chain c starts at c * kFmaChainStart and steps x -> x * kFmaChainFactor + kFmaChainAddend.
inline constexpr float kFmaChainStart = 0.001f, kFmaChainFactor = 0.999999f, kFmaChainAddend = 1e-7f;
float fma_chains_avx512(int64_t iterations);
float fma_chains_avx2(int64_t iterations);
float fma_chains_portable(int64_t iterations);
}  // namespace kernels

}  // namespace cpm
