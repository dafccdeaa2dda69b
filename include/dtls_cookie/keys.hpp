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
  // key_set() - a set of the current and, optionally, the previous key
  // @current: the key that makes new cookies
  // @previous: the key before it, whose cookies still verify
  //
  // A set made without keys is empty: cookie_send() and cookie_verify()
  // refuse it.
  key_set() = default;
  explicit key_set(key current) : current_(current) {}
  key_set(key current, key previous) : current_(current), previous_(previous) {}

  // from_abi() - a key set from the layout the kernel reads
  // @abi: the set as the key map holds it; an absent key has DC_KEY_VALID
  //   clear
  //
  // A previous key without a current one is dropped: it is no usable set.
  //
  // Returns: the set.
  // See also: to_abi()
  static key_set from_abi(const dc_key_set& abi);

  // to_abi() - the key set in the layout the kernel reads
  //
  // Returns: the set as the key map holds it; an absent key has
  // DC_KEY_VALID clear.
  // See also: from_abi()
  dc_key_set to_abi() const;

  // current() - the key that makes new cookies
  //
  // Returns: the current key; none in an empty set.
  // See also: previous(), empty()
  const std::optional<key>& current() const noexcept { return current_; }

  // previous() - the key before the current one
  //
  // Returns: the previous key, whose cookies still verify; none before the
  // first rotation.
  // See also: current(), rotate()
  const std::optional<key>& previous() const noexcept { return previous_; }

  // empty() - whether the set has no current key
  //
  // Returns: true when there is no current key; no cookie verifies then.
  // See also: current()
  bool empty() const noexcept { return !current_.has_value(); }

  // find() - the key of a generation
  // @generation: the generation a cookie names
  //
  // Returns: the key with this generation, or null when it is neither the
  // current nor the previous one.
  // See also: is_current(), check_cookie()
  const key* find(uint32_t generation) const noexcept;

  // is_current() - whether a key found in this set is its current one
  // @k: a key find() returned
  //
  // Compares the object, not the bytes: a previous key equal to the current
  // one is still the previous one.
  //
  // Returns: true when k is this set's current key.
  // See also: find()
  bool is_current(const key& k) const noexcept {
    return current_ && &*current_ == &k;
  }

  // rotate() - makes a new key current
  // @next: the new current key
  //
  // Makes next current; the current key becomes the previous one and the
  // previous one is forgotten.
  //
  // See also: rotate_random(), fleet_secret::key_set_at()
  void rotate(const key& next);

  bool operator==(const key_set&) const = default;

 private:
  std::optional<key> current_;
  std::optional<key> previous_;
};

// random_key() - a fresh key from OpenSSL's RAND_bytes
// @generation: the generation the key is named by in cookies
// @now: when it is made current, for status output
//
// Returns: the key.
// Throws: dtls_cookie::error when the generator fails.
// See also: rotate_random()
key random_key(uint32_t generation, std::chrono::system_clock::time_point now =
                                        std::chrono::system_clock::now());

// rotate_random() - rotates to a random key
// @keys: the set to rotate
// @now: when the new key is made current, for status output
//
// Rotates to a random key whose generation follows the current one (1 in
// an empty set).
//
// Throws: dtls_cookie::error when the generator fails.
// See also: random_key(), key_set::rotate()
void rotate_random(key_set& keys, std::chrono::system_clock::time_point now =
                                      std::chrono::system_clock::now());

// Keys shared by a fleet: the key of epoch E is HKDF-SHA256(secret, E), and
// E is the number of whole intervals since the Unix epoch. Hosts with the
// same secret file and synchronised clocks accept each other's cookies.
class fleet_secret {
 public:
  // At least kMinSecretLen bytes.
  static constexpr size_t kMinSecretLen = 16;

  // fleet_secret() - a fleet secret from bytes
  // @secret: the secret, at least kMinSecretLen bytes
  //
  // Throws: dtls_cookie::error when it is shorter.
  // See also: from_file()
  explicit fleet_secret(std::span<const uint8_t> secret);

  // from_file() - reads a secret file
  // @path: the file; its raw bytes are the secret, at least kMinSecretLen
  //   of them
  //
  // Returns: the secret.
  // Throws: dtls_cookie::error naming the file and the fault.
  // See also: fleet_key_source::fleet_key_source()
  static fleet_secret from_file(const std::filesystem::path& path);

  // derive() - the key of one epoch
  // @epoch: the epoch number
  //
  // Returns: the key; its generation is the epoch number.
  // Throws: dtls_cookie::error when OpenSSL's HKDF fails.
  // See also: key_set_at(), epoch_at()
  key derive(uint32_t epoch) const;

  // epoch_at() - the epoch that contains a time
  // @now: the time
  // @interval: the epoch length
  //
  // Returns: the epoch that contains now.
  // Throws: dtls_cookie::error for an interval that is not positive.
  // See also: derive()
  static uint32_t epoch_at(std::chrono::system_clock::time_point now,
                           std::chrono::seconds interval);

  // key_set_at() - the fleet's key set at a time
  // @now: the time
  // @interval: the epoch length
  //
  // Returns: {key of the epoch containing now, key of the epoch before}.
  // Throws: dtls_cookie::error for an interval that is not positive or when
  // OpenSSL's HKDF fails.
  // See also: derive(), fleet_key_source::keys()
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

  // keys() - the key set in force now
  //
  // Returns: the key set in force now; empty when none is available.
  // See also: fleet_key_source::keys(), pinned_key_source::keys(),
  //   cookie_verify()
  virtual key_set keys() = 0;
};

// Fleet keys from a secret file, recomputed when the epoch changes.
class fleet_key_source final : public key_source {
 public:
  using clock_fn = std::chrono::system_clock::time_point (*)();

  // fleet_key_source() - fleet keys from a secret
  // @secret: the fleet's secret
  // @interval: the epoch length, the same on every host
  // @clock: where the time comes from
  //
  // Throws: dtls_cookie::error for an interval that is not positive.
  // See also: fleet_secret::from_file(), keys()
  fleet_key_source(fleet_secret secret, std::chrono::seconds interval,
                   clock_fn clock = &std::chrono::system_clock::now);

  // keys() - the fleet's key set for now
  //
  // Returns: the keys of the epoch containing now and of the epoch before,
  // derived again only when the epoch changed.
  // Throws: dtls_cookie::error when OpenSSL's HKDF fails.
  // See also: fleet_secret::key_set_at()
  key_set keys() override;

 private:
  fleet_secret secret_;
  std::chrono::seconds interval_;
  clock_fn clock_;
  std::optional<uint32_t> epoch_;
  key_set cached_;
};

}  // namespace dtls_cookie
