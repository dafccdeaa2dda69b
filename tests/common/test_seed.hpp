// The seed of every randomised test: fixed by default so a run repeats
// exactly, overridden with DC_TEST_SEED to explore; always printed.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>

namespace dtls_cookie::testing {

inline uint32_t test_seed(uint32_t fallback = 20261203u) {
  if (const char* s = std::getenv("DC_TEST_SEED"))
    return uint32_t(std::strtoul(s, nullptr, 0));
  return fallback;
}

inline std::string seed_note(uint32_t seed) {
  return "seed " + std::to_string(seed) +
         " (rerun with DC_TEST_SEED=" + std::to_string(seed) + ")";
}

}  // namespace dtls_cookie::testing
