// Run-time CPU feature detection: AVX2 kernels are only used where the CPU has them.
#pragma once

#include <string>

namespace cpm {

// True when the CPU supports AVX2, FMA and F16C, and CPM_DISABLE_AVX2 is not set in the environment.
bool cpu_has_avx2();
// True when cpu_has_avx2() and the CPU has AVX-VNNI (256-bit vpdpbusd), and CPM_DISABLE_AVX_VNNI is not
// set. The kernels give the same bits either way; this only picks the faster instructions.
bool cpu_has_avx_vnni();

// True when cpu_has_avx2() and the CPU (and OS) have AVX-512F, and CPM_DISABLE_AVX512 is not set: the
// packed float GEMM uses it, with the same bits as its AVX2 form.
bool cpu_has_avx512();
// True when cpu_has_avx512() and the CPU has AVX512-VNNI: the quantized prefill panels use it (same bits).
bool cpu_has_avx512_vnni();
// True when cpu_has_avx512() and the CPU has AVX512_BF16, and CPM_DISABLE_AVX512_BF16 is not set: the
// packed GEMM of SummationOrder::kFastestBf16 uses it (without it that order is kFastest's).
bool cpu_has_avx512_bf16();

// The instruction set the kernels run on: "avx2" or "avx2+avx-vnni", then "+avx512f",
// "+avx512-vnni" and "+avx512-bf16" where used (the last by SummationOrder::kFastestBf16 only); or
// "portable". Benchmarks record it, so figures from different machines say what they compare.
const char* kernel_instruction_set();
// The CPU's model name as the kernel reports it (/proc/cpuinfo), or "unknown".
std::string cpu_model_name();

}  // namespace cpm
