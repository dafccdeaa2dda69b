// The cookie keys of the XDP responder running on this host, read from its
// pinned key map, for a DTLS server that verifies the second ClientHello
// of a client the responder answered.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

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
// would never change again. While nothing is pinned there, something other
// than the responder's key map is, or the map holds no key set, keys() is
// empty and problem() says why.
//
// Needs CAP_BPF, and CAP_SYS_ADMIN for the inner map (the kernel opens a
// map by id for privileged callers only).
class pinned_key_source final : public key_source {
 public:
  using clock_fn = std::chrono::steady_clock::time_point (*)();
  static constexpr std::chrono::milliseconds kDefaultMaxAge{100};

  // pinned_key_source() - reads the keys of the responder on this host
  // @pin_dir: the agent's pin directory (its --pin-dir)
  // @max_age: how long a key set read is used before the map is read again
  // @clock: where the time comes from
  //
  // A key map without a key set is accepted: keys() is empty.
  //
  // Throws: dtls_cookie::error naming the path when pin_dir is not on a
  // bpffs or no key map is pinned in it, and foreign_pin_error when
  // something else is pinned there (a map of another layout, a program),
  // so a server fails at start rather than silently running without keys.
  // See also: keys(), problem(), dtls-cookie(8)
  explicit pinned_key_source(const std::filesystem::path& pin_dir,
                             std::chrono::milliseconds max_age = kDefaultMaxAge,
                             clock_fn clock = &std::chrono::steady_clock::now);

  // keys() - the responder's key set, read at most max_age ago
  //
  // Returns: the current and the previous key of the pinned key map; empty
  // while nothing is pinned there, something other than the responder's
  // key map is, or the map holds no key set, and problem() says why.
  // See also: problem(), cookie_verify(), check_cookie()
  key_set keys() override;

  // path() - the pinned key map the keys are read from
  //
  // Returns: <pin_dir>/keys.
  const std::filesystem::path& path() const noexcept { return path_; }

  // problem() - why the last read found no keys
  //
  // Returns: the reason, naming the path; empty when it found a key set.
  // See also: keys()
  const std::string& problem() const noexcept { return problem_; }

 private:
  void refresh();

  std::filesystem::path path_;
  std::chrono::milliseconds max_age_;
  clock_fn clock_;
  std::chrono::steady_clock::time_point read_at_;
  key_set cached_;
  std::string problem_;
};

}  // namespace dtls_cookie
