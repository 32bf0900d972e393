// Measures how fast this machine streams memory into the cores, to put decode speed against its
// limit (bytes of weights per token ÷ read bandwidth).
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace cpm {

// Best of `repeats` parallel reads of a `bytes` buffer (much larger than the caches), in bytes/s.
double measure_read_bandwidth(ThreadPool& pool, int64_t bytes = int64_t{1} << 30, int repeats = 5);

// Peak resident set size of this process so far, in bytes.
int64_t peak_resident_bytes();

}  // namespace cpm
