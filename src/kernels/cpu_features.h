// Run-time CPU feature detection: AVX2 kernels are only used where the CPU has them.
#pragma once

namespace cpm {

// True when the CPU supports AVX2, FMA and F16C, and CPM_DISABLE_AVX2 is not set in the environment.
bool cpu_has_avx2();

}  // namespace cpm
