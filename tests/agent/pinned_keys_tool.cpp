// Prints the key set a pinned_key_source reads from a pin directory, one
// line per key ("current GEN HEX", "previous GEN HEX", or "none"), so the
// shell tests can compare keys across daemon restarts.
#include <cstdio>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_keys.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PIN_DIR\n", argv[0]);
    return 2;
  }
  try {
    dtls_cookie::pinned_key_source source(argv[1]);
    const dtls_cookie::key_set keys = source.keys();
    if (keys.empty()) std::puts("none");
    for (const auto* k : {&keys.current(), &keys.previous()}) {
      if (!*k) continue;
      std::printf("%s %u ", k == &keys.current() ? "current" : "previous",
                  (*k)->generation);
      for (uint8_t b : (*k)->bytes) std::printf("%02x", b);
      std::printf("\n");
    }
  } catch (const dtls_cookie::error& e) {
    std::fprintf(stderr, "dc_pinned_keys: %s\n", e.what());
    return 1;
  }
  return 0;
}
