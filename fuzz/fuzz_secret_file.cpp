// libFuzzer target: fleet_secret::from_file on arbitrary file contents (an
// anonymous memfd opened through /proc/self/fd) and the key derivation,
// checked against GnuTLS's HKDF, an implementation apart from OpenSSL's.
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/keys.hpp"
#include "fuzz_util.hpp"

namespace {

namespace dc = dtls_cookie;
using std::chrono::seconds;

// The derivation's labels as keys.hpp documents them; spelled out here
// again so that a change to them shows up as a broken invariant.
constexpr char kSalt[] = "dtls-cookie fleet key v1";
constexpr char kInfo[] = "cookie key epoch ";

std::array<uint8_t, DC_KEY_LEN> gnutls_hkdf(const uint8_t* secret, size_t size,
                                            uint32_t epoch) {
  uint8_t prk[32];
  gnutls_datum_t ikm{const_cast<uint8_t*>(secret), unsigned(size)};
  gnutls_datum_t salt{
      reinterpret_cast<unsigned char*>(const_cast<char*>(kSalt)),
      sizeof kSalt - 1};
  FUZZ_CHECK(gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &ikm, &salt, prk) == 0);
  uint8_t info[sizeof kInfo - 1 + 4];
  std::memcpy(info, kInfo, sizeof kInfo - 1);
  for (int i = 0; i < 4; ++i)
    info[sizeof kInfo - 1 + i] = uint8_t(epoch >> (24 - 8 * i));
  gnutls_datum_t key{prk, sizeof prk};
  gnutls_datum_t inf{info, sizeof info};
  std::array<uint8_t, DC_KEY_LEN> out;
  FUZZ_CHECK(gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &key, &inf, out.data(),
                                out.size()) == 0);
  return out;
}

std::chrono::system_clock::time_point g_now;
std::chrono::system_clock::time_point fixed_clock() { return g_now; }

// Paths that are not files: refused with a message, never a crash.
void check_bad_paths() {
  for (const char* path : {"/", "/proc/self/fd/-1", ""}) {
    bool threw = false;
    try {
      dc::fleet_secret::from_file(path);
    } catch (const dc::error& e) {
      threw = std::strlen(e.what()) > 0;
    }
    FUZZ_CHECK(threw);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = [] {
    check_bad_paths();
    return memfd_create("fuzz-secret", MFD_CLOEXEC);
  }();
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, data, size, 0) == ssize_t(size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  std::optional<dc::fleet_secret> secret;
  std::string message;
  try {
    secret = dc::fleet_secret::from_file(path);
  } catch (const dc::error& e) {
    message = e.what();
  }

  // The size rule is the only rule: any bytes, at least kMinSecretLen.
  FUZZ_CHECK(secret.has_value() == (size >= dc::fleet_secret::kMinSecretLen));
  if (!secret) {
    FUZZ_CHECK(message.find(path) != std::string::npos);
    FUZZ_CHECK(message.find(" " + std::to_string(size) + " bytes") !=
               std::string::npos);
    bool threw = false;
    try {
      static_cast<void>(dc::fleet_secret({data, size}));
    } catch (const dc::error&) {
      threw = true;
    }
    FUZZ_CHECK(threw);
    return 0;
  }

  // The same bytes make the same keys, from a file or from memory, and
  // they are HKDF-SHA256 as documented.
  const dc::fleet_secret direct({data, size});
  uint32_t some_epoch = 0;
  std::memcpy(&some_epoch, data + size - 4, 4);
  for (uint32_t epoch : {0u, 1u, 0xffffffffu, some_epoch}) {
    const dc::key k = secret->derive(epoch);
    FUZZ_CHECK(k.generation == epoch);
    FUZZ_CHECK(k == direct.derive(epoch));
    FUZZ_CHECK(k.bytes == gnutls_hkdf(data, size, epoch));
  }
  FUZZ_CHECK(secret->derive(some_epoch).bytes !=
             secret->derive(some_epoch + 1).bytes);

  // A set is the epoch's key and the one before, also across epoch 0.
  // Times up to 2^32 s after 1970: the clock's nanoseconds hold them.
  const auto interval = seconds(1 + (some_epoch >> 8) % 86400);
  g_now = std::chrono::system_clock::time_point(
      seconds(some_epoch % 2 ? some_epoch : some_epoch % interval.count()));
  const uint32_t epoch = dc::fleet_secret::epoch_at(g_now, interval);
  const dc::key_set set = secret->key_set_at(g_now, interval);
  FUZZ_CHECK(set.current() && set.previous());
  FUZZ_CHECK(set.current()->generation == epoch);
  FUZZ_CHECK(set.previous()->generation == epoch - 1);
  FUZZ_CHECK(set.current()->bytes == direct.derive(epoch).bytes);
  FUZZ_CHECK(set.previous()->bytes == direct.derive(epoch - 1).bytes);
  dc::fleet_key_source source(*secret, interval, &fixed_clock);
  FUZZ_CHECK(source.keys() == set);
  return 0;
}
