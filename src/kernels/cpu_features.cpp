#include "kernels/cpu_features.h"

#include <cstdlib>
#include <fstream>

namespace cpm {

bool cpu_has_avx2() {
  static const bool has = [] {
    if (std::getenv("CPM_DISABLE_AVX2") != nullptr) return false;
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
  }();
  return has;
}

bool cpu_has_avx_vnni() {
  static const bool has = [] {
    if (!cpu_has_avx2() || std::getenv("CPM_DISABLE_AVX_VNNI") != nullptr) return false;
#if defined(__x86_64__)
    return __builtin_cpu_supports("avxvnni") != 0;
#else
    return false;
#endif
  }();
  return has;
}

bool cpu_has_avx512() {
  static const bool has = [] {
    if (!cpu_has_avx2() || std::getenv("CPM_DISABLE_AVX512") != nullptr) return false;
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") != 0;  // false too where the OS does not save zmm state
#else
    return false;
#endif
  }();
  return has;
}

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__)
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16") &&
                          std::getenv("CPM_DISABLE_AVX512_BF16") == nullptr;
  return has;
#else
  return false;
#endif
}

const char* kernel_instruction_set() {
  static const std::string name = [] {
    if (!cpu_has_avx2()) return std::string("portable");
    std::string set = cpu_has_avx_vnni() ? "avx2+avx-vnni" : "avx2";
    if (cpu_has_avx512()) set += "+avx512f";
    if (cpu_has_avx512_vnni()) set += "+avx512-vnni";
    if (cpu_has_avx512_bf16()) set += "+avx512-bf16";
    return set;
  }();
  return name.c_str();
}

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  const std::string key = "model name";
  for (std::string line; std::getline(cpuinfo, line);) {
    const size_t colon = line.find(':');
    if (line.compare(0, key.size(), key) != 0 || colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    if (start != std::string::npos) return line.substr(start);
  }
  return "unknown";
}

}  // namespace cpm
