// What every fuzz target shares: an invariant check that aborts (libFuzzer
// then keeps the input as a crash) and a reader that splits an input into
// fixed fields, so seed files can be written by hand or by seeds.py.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

// Not assert(): it must hold in every build type, and the message names
// the invariant that broke.
#define FUZZ_CHECK(cond)                                              \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
                   __LINE__, #cond);                                  \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

namespace dtls_cookie::fuzz {

// Fields are taken from the front; past the end every field reads as
// zeros, so a short input still means something.
class reader {
 public:
  explicit reader(std::span<const uint8_t> in) : in_(in) {}

  template <typename T>
  T take() {
    T v{};
    const size_t n = std::min(sizeof v, in_.size());
    std::memcpy(&v, in_.data(), n);
    in_ = in_.subspan(n);
    return v;
  }

  void take_into(uint8_t* out, size_t size) {
    const size_t n = std::min(size, in_.size());
    std::memcpy(out, in_.data(), n);
    std::memset(out + n, 0, size - n);
    in_ = in_.subspan(n);
  }

  // Up to max bytes; fewer when the input ends.
  std::vector<uint8_t> bytes(size_t max) {
    const size_t n = std::min(max, in_.size());
    std::vector<uint8_t> v(in_.begin(), in_.begin() + n);
    in_ = in_.subspan(n);
    return v;
  }

  // Everything not taken yet, in a buffer of its own so that ASan catches
  // a read one byte past it.
  std::vector<uint8_t> rest() { return bytes(in_.size()); }

 private:
  std::span<const uint8_t> in_;
};

}  // namespace dtls_cookie::fuzz
