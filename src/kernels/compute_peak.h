// Measures how many f32 multiply-adds per second the cores sustain, to put compute-bound work
// (attention over a long context, prefill) against its limit, the way memory_bandwidth.h does for
// weight streaming.
#pragma once

#include "core/thread_pool.h"

namespace cpm {

// Best of `repeats` runs of independent FMA chains on every thread of the pool, in FLOP/s (a
// multiply-add counts 2). Uses 256-bit FMA where the CPU has it, like the kernels.
double measure_fma_peak(ThreadPool& pool, int repeats = 5);

namespace kernels {
// Runs `iterations` rounds of kFmaChains 8-wide FMAs; returns a value that depends on all of them.
inline constexpr int kFmaChains = 10;
float fma_chains_avx2(int64_t iterations);
float fma_chains_portable(int64_t iterations);
}  // namespace kernels

}  // namespace cpm
