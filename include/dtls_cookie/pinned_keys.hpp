// The cookie keys of the XDP responder running on this host, read from its
// pinned key map, for a DTLS server that verifies the second ClientHello
// of a client the responder answered.
#pragma once

#include <chrono>
#include <filesystem>

#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/responder.hpp"

namespace dtls_cookie {

// Reads <pin_dir>/keys, the outer key map the agent pins. The set is
// cached for max_age, so a flood of ClientHellos costs a handful of
// syscalls every max_age rather than several per datagram; a rotation is
// seen at most max_age late, far inside the window in which the previous
// key still verifies.
//
// The map is opened again at each refresh: an agent that stopped and
// started pins a new map under the same name, and the set of the old one
// would never change again. While nothing is pinned there, keys() is
// empty.
//
// Needs CAP_BPF, and CAP_SYS_ADMIN for the inner map (the kernel opens a
// map by id for privileged callers only).
class pinned_key_source final : public key_source {
 public:
  using clock_fn = std::chrono::steady_clock::time_point (*)();
  static constexpr std::chrono::milliseconds kDefaultMaxAge{100};

  // Throws dtls_cookie::error naming the path when no key map is pinned
  // in pin_dir (or something else is), so a server fails at start rather
  // than silently running without keys.
  explicit pinned_key_source(const std::filesystem::path& pin_dir,
                             std::chrono::milliseconds max_age = kDefaultMaxAge,
                             clock_fn clock = &std::chrono::steady_clock::now);

  key_set keys() override;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  void refresh();

  std::filesystem::path path_;
  std::chrono::milliseconds max_age_;
  clock_fn clock_;
  std::chrono::steady_clock::time_point read_at_;
  key_set cached_;
};

}  // namespace dtls_cookie
