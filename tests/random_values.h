// Reproducible random inputs for kernel tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace cpm::test {

// count values drawn from N(0, 1), the same for the same seed.
inline std::vector<float> normal_floats(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> values(count);
  for (float& value : values) value = normal(random);
  return values;
}

}  // namespace cpm::test
