// Cookie keys: a set of the current and the previous key with their
// generations, rotation, random keys from OpenSSL, and fleet keys that every
// host holding the same secret derives alike for the same time epoch.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "dtls_cookie/abi/abi.h"

namespace dtls_cookie {

struct key {
  uint32_t generation = 0;
  std::array<uint8_t, DC_KEY_LEN> bytes{};
  // When the key was made current (CLOCK_REALTIME), for status output.
  uint64_t created_unix_ns = 0;

  bool operator==(const key&) const = default;
};

// The current key and, for a short window after a rotation, the previous
// one. A cookie names its key by generation, so verification picks one key
// without trying both.
class key_set {
 public:
  key_set() = default;
  explicit key_set(key current) : current_(current) {}
  key_set(key current, key previous) : current_(current), previous_(previous) {}

  // The layout the kernel reads; an absent key has DC_KEY_VALID clear.
  static key_set from_abi(const dc_key_set& abi);
  dc_key_set to_abi() const;

  const std::optional<key>& current() const noexcept { return current_; }
  const std::optional<key>& previous() const noexcept { return previous_; }
  bool empty() const noexcept { return !current_.has_value(); }

  // The key with this generation, or null when it is neither the current
  // nor the previous one.
  const key* find(uint32_t generation) const noexcept;
  bool is_current(const key& k) const noexcept {
    return current_ && &*current_ == &k;
  }

  // Makes next current; the current key becomes the previous one and the
  // previous one is forgotten.
  void rotate(const key& next);

  bool operator==(const key_set&) const = default;

 private:
  std::optional<key> current_;
  std::optional<key> previous_;
};

// A fresh key from OpenSSL's RAND_bytes. Throws dtls_cookie::error when the
// generator fails.
key random_key(uint32_t generation, std::chrono::system_clock::time_point now =
                                        std::chrono::system_clock::now());

// Rotates to a random key whose generation follows the current one.
void rotate_random(key_set& keys, std::chrono::system_clock::time_point now =
                                      std::chrono::system_clock::now());

// Keys shared by a fleet: the key of epoch E is HKDF-SHA256(secret, E), and
// E is the number of whole intervals since the Unix epoch. Hosts with the
// same secret file and synchronised clocks accept each other's cookies.
class fleet_secret {
 public:
  // At least kMinSecretLen bytes.
  static constexpr size_t kMinSecretLen = 16;

  explicit fleet_secret(std::span<const uint8_t> secret);
  // Reads a secret file: its raw bytes, at least kMinSecretLen of them.
  // Throws dtls_cookie::error naming the file and the fault.
  static fleet_secret from_file(const std::filesystem::path& path);

  // The key of one epoch; its generation is the epoch number.
  key derive(uint32_t epoch) const;

  // The epoch that contains now.
  static uint32_t epoch_at(std::chrono::system_clock::time_point now,
                           std::chrono::seconds interval);

  // {key of the epoch containing now, key of the epoch before}.
  key_set key_set_at(std::chrono::system_clock::time_point now,
                     std::chrono::seconds interval) const;

 private:
  std::vector<uint8_t> secret_;
};

// Where a server gets the keys to verify cookies with: the live keys of the
// XDP responder on this host (pinned key map), or fleet keys derived from a
// secret file on hosts without it. Called once per datagram to verify, so an
// implementation caches and refreshes on its own schedule.
class key_source {
 public:
  virtual ~key_source() = default;
  // The key set in force now; empty when none is available.
  virtual key_set keys() = 0;
};

// Fleet keys from a secret file, recomputed when the epoch changes.
class fleet_key_source final : public key_source {
 public:
  using clock_fn = std::chrono::system_clock::time_point (*)();

  fleet_key_source(fleet_secret secret, std::chrono::seconds interval,
                   clock_fn clock = &std::chrono::system_clock::now);
  key_set keys() override;

 private:
  fleet_secret secret_;
  std::chrono::seconds interval_;
  clock_fn clock_;
  std::optional<uint32_t> epoch_;
  key_set cached_;
};

}  // namespace dtls_cookie
