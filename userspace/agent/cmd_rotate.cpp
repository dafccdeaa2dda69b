// rotate: publishes a new key set to the pinned instance. A random key
// becomes current and the old current stays valid as previous, so cookies
// issued just before still verify; or the fleet's set for now. A key map
// without a set gets a new one: there is nothing to keep, and until a set
// is published the responder answers no ClientHello.
#include <spdlog/spdlog.h>

#include <chrono>

#include "commands.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_layout.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {

key_set rotated_keys(const key_set& live, const key_options& k) {
  if (k.secret_file) return fleet_keys_now(k);
  key_set next = live;
  rotate_random(next);
  return next;
}

int cmd_rotate(const std::filesystem::path& pin_dir, const key_options& k) {
  const unique_fd lock = lock_pin_dir(pin_dir);
  const std::optional<instance> inst = instance::open(pin_dir);
  if (!inst)
    throw error("not attached: no instance is pinned in " + pin_dir.string() +
                " (dtls-cookie attach first)");
  const key_set live = inst->keys();
  if (live.empty())
    spdlog::warn("the key map in {} holds no key set ({}); publishing one",
                 pin_dir.string(), missing_keys_reason(inst->keys_fd()));
  const key_set next = rotated_keys(live, k);
  if (next == live) {
    spdlog::info("the fleet keys of epoch {} are already published in {}",
                 next.current()->generation, pin_dir.string());
    return 0;
  }
  inst->publish(next);
  spdlog::info("rotated keys in {}: generation {} current, {} previous{}",
               pin_dir.string(), next.current()->generation,
               next.previous() ? std::to_string(next.previous()->generation)
                               : std::string("none"),
               k.secret_file ? " (fleet keys)" : "");
  return 0;
}

}  // namespace dtls_cookie::agent
