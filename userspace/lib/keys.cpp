// Key sets, rotation, random keys (OpenSSL RAND_bytes) and fleet keys
// (HKDF-SHA256 from OpenSSL) for the cookie MAC.
#include "dtls_cookie/keys.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/wire.hpp"

namespace dtls_cookie {
namespace {

// Domain separation: a secret file may serve other purposes too.
constexpr char kHkdfSalt[] = "dtls-cookie fleet key v1";
constexpr char kHkdfInfo[] = "cookie key epoch ";

std::string openssl_error(const char* call) {
  const unsigned long e = ERR_get_error();
  char buf[256] = "no OpenSSL error queued";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  return std::string(call) + " failed: " + buf;
}

uint64_t to_unix_ns(std::chrono::system_clock::time_point t) {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch())
          .count());
}

dc_key to_abi_key(const std::optional<key>& k) {
  dc_key out{};
  if (!k) return out;
  out.generation = k->generation;
  out.flags = DC_KEY_VALID;
  out.created_unix_ns = k->created_unix_ns;
  std::memcpy(out.bytes, k->bytes.data(), DC_KEY_LEN);
  return out;
}

std::optional<key> from_abi_key(const dc_key& k) {
  if (!(k.flags & DC_KEY_VALID)) return std::nullopt;
  key out;
  out.generation = k.generation;
  out.created_unix_ns = k.created_unix_ns;
  std::memcpy(out.bytes.data(), k.bytes, DC_KEY_LEN);
  return out;
}

}  // namespace

key_set key_set::from_abi(const dc_key_set& abi) {
  key_set s;
  s.current_ = from_abi_key(abi.current);
  // A previous key without a current one is not a usable set.
  if (s.current_) s.previous_ = from_abi_key(abi.previous);
  return s;
}

dc_key_set key_set::to_abi() const {
  dc_key_set out{};
  out.current = to_abi_key(current_);
  out.previous = to_abi_key(previous_);
  return out;
}

const key* key_set::find(uint32_t generation) const noexcept {
  if (current_ && current_->generation == generation) return &*current_;
  if (previous_ && previous_->generation == generation) return &*previous_;
  return nullptr;
}

void key_set::rotate(const key& next) {
  previous_ = current_;
  current_ = next;
}

key random_key(uint32_t generation, std::chrono::system_clock::time_point now) {
  key k;
  k.generation = generation;
  k.created_unix_ns = to_unix_ns(now);
  if (RAND_bytes(k.bytes.data(), int(k.bytes.size())) != 1)
    throw error(openssl_error("RAND_bytes"));
  return k;
}

void rotate_random(key_set& keys, std::chrono::system_clock::time_point now) {
  const uint32_t next = keys.current() ? keys.current()->generation + 1 : 1;
  keys.rotate(random_key(next, now));
}

fleet_secret::fleet_secret(std::span<const uint8_t> secret)
    : secret_(secret.begin(), secret.end()) {
  if (secret_.size() < kMinSecretLen)
    throw error("fleet secret is " + std::to_string(secret_.size()) +
                " bytes; at least " + std::to_string(kMinSecretLen) +
                " are needed (make one with: head -c 32 /dev/urandom > FILE)");
}

fleet_secret fleet_secret::from_file(const std::filesystem::path& path) {
  // An ifstream opens a directory and then throws from deep inside the
  // stream buffer; say what is wrong instead.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw error("secret file " + path.string() +
                " is a directory; give the path of a file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw error("cannot read secret file " + path.string() + ": " +
                std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad())
    throw error("cannot read secret file " + path.string() + ": " +
                std::strerror(errno));
  if (bytes.size() < kMinSecretLen)
    throw error("secret file " + path.string() + " holds " +
                std::to_string(bytes.size()) + " bytes; at least " +
                std::to_string(kMinSecretLen) +
                " are needed (make one with: head -c 32 /dev/urandom > " +
                path.string() + ")");
  return fleet_secret(bytes);
}

key fleet_secret::derive(uint32_t epoch) const {
  using kdf_ptr = std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)>;
  using ctx_ptr = std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)>;
  kdf_ptr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr), &EVP_KDF_free);
  if (!kdf) throw error(openssl_error("EVP_KDF_fetch(HKDF)"));
  ctx_ptr ctx(EVP_KDF_CTX_new(kdf.get()), &EVP_KDF_CTX_free);
  if (!ctx) throw error(openssl_error("EVP_KDF_CTX_new"));

  uint8_t info[sizeof kHkdfInfo - 1 + 4];
  std::memcpy(info, kHkdfInfo, sizeof kHkdfInfo - 1);
  wire::store_be<4>(info + sizeof kHkdfInfo - 1, epoch);

  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<uint8_t*>(secret_.data()),
                                        secret_.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<char*>(kHkdfSalt),
                                        sizeof kHkdfSalt - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
      OSSL_PARAM_construct_end(),
  };
  key k;
  k.generation = epoch;
  if (EVP_KDF_derive(ctx.get(), k.bytes.data(), k.bytes.size(), params) != 1)
    throw error(openssl_error("EVP_KDF_derive(HKDF-SHA256)"));
  return k;
}

uint32_t fleet_secret::epoch_at(std::chrono::system_clock::time_point now,
                                std::chrono::seconds interval) {
  if (interval.count() <= 0) throw error("key interval must be positive");
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
  return uint32_t(secs.count() / interval.count());
}

key_set fleet_secret::key_set_at(std::chrono::system_clock::time_point now,
                                 std::chrono::seconds interval) const {
  const uint32_t epoch = epoch_at(now, interval);
  const uint64_t ns_per_epoch = uint64_t(interval.count()) * 1000000000ull;
  key current = derive(epoch);
  current.created_unix_ns = epoch * ns_per_epoch;
  key previous = derive(epoch - 1);
  previous.created_unix_ns = (epoch - 1) * ns_per_epoch;
  return key_set(current, previous);
}

fleet_key_source::fleet_key_source(fleet_secret secret,
                                   std::chrono::seconds interval,
                                   clock_fn clock)
    : secret_(std::move(secret)), interval_(interval), clock_(clock) {
  if (interval_.count() <= 0) throw error("key interval must be positive");
}

key_set fleet_key_source::keys() {
  const auto now = clock_();
  const uint32_t epoch = fleet_secret::epoch_at(now, interval_);
  if (epoch_ != epoch) {
    cached_ = secret_.key_set_at(now, interval_);
    epoch_ = epoch;
  }
  return cached_;
}

}  // namespace dtls_cookie
