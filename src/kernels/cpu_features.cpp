#include "kernels/cpu_features.h"

#include <cstdlib>

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

}  // namespace cpm
