// The pinned key source: the live key set of the responder on this host,
// read through the key map the agent pins, cached for a short time.
#include "dtls_cookie/pinned_keys.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <string>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_layout.hpp"

namespace dtls_cookie {
namespace {

// The agent's name for the outer key map inside its pin directory.
constexpr const char* kKeysPin = "keys";

// What a server operator needs to hear on top of the kernel's errno.
std::string open_hint(int err) {
  if (err == ENOENT) return " (is the responder attached with this --pin-dir?)";
  if (err == EPERM || err == EACCES)
    return " (reading the responder's keys needs CAP_BPF and CAP_SYS_ADMIN)";
  return "";
}

}  // namespace

pinned_key_source::pinned_key_source(const std::filesystem::path& pin_dir,
                                     std::chrono::milliseconds max_age,
                                     clock_fn clock)
    : path_(pin_dir / kKeysPin), max_age_(max_age), clock_(clock) {
  require_bpffs(pin_dir);
  unique_fd fd;
  try {
    // Read-only: a server has no business changing the keys.
    fd = open_pinned_map(path_, kKeysMapLayout, true);
  } catch (const bpf_error& e) {
    throw error(e.what() + open_hint(e.code()));
  }
  cached_ = read_keys(fd.get());
  if (cached_.empty())
    problem_ = path_.string() + " holds no key set (" +
               missing_keys_reason(fd.get()) + ")";
  read_at_ = clock_();
}

key_set pinned_key_source::keys() {
  if (clock_() - read_at_ >= max_age_) refresh();
  return cached_;
}

void pinned_key_source::refresh() {
  read_at_ = clock_();
  // Nothing pinned (the agent stopped), something else pinned, or no set
  // in the map: no keys, so that no cookie is accepted that no responder
  // vouches for.
  try {
    const unique_fd fd = open_pinned_map(path_, kKeysMapLayout, true);
    cached_ = read_keys(fd.get());
    problem_.clear();
    if (cached_.empty())
      problem_ = path_.string() + " holds no key set (" +
                 missing_keys_reason(fd.get()) + ")";
  } catch (const bpf_error& e) {
    cached_ = {};
    problem_ = e.what() + open_hint(e.code());
  } catch (const error& e) {
    cached_ = {};
    problem_ = e.what();
  }
}

}  // namespace dtls_cookie
