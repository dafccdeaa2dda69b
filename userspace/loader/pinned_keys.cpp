// The pinned key source: the live key set of the responder on this host,
// read through the key map the agent pins, cached for a short time.
#include "dtls_cookie/pinned_keys.hpp"

#include <bpf/bpf.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "dtls_cookie/error.hpp"

namespace dtls_cookie {
namespace {

// The agent's name for the outer key map inside its pin directory.
constexpr const char* kKeysPin = "keys";

// BPF_OBJ_GET hands back whatever is pinned at the path, a program as
// readily as a map; the fd's inode name tells the two apart.
bool is_bpf_map(int fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[PATH_MAX];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0) return false;
  return std::string_view(target, size_t(n)) == "anon_inode:bpf-map";
}

// Read-only: a server has no business changing the keys.
unique_fd open_key_map(const std::filesystem::path& path, int* err) {
  LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
  unique_fd fd(bpf_obj_get_opts(path.c_str(), &opts));
  *err = fd ? 0 : errno;
  return fd;
}

}  // namespace

pinned_key_source::pinned_key_source(const std::filesystem::path& pin_dir,
                                     std::chrono::milliseconds max_age,
                                     clock_fn clock)
    : path_(pin_dir / kKeysPin), max_age_(max_age), clock_(clock) {
  int err = 0;
  const unique_fd fd = open_key_map(path_, &err);
  if (!fd) {
    std::string hint;
    if (err == ENOENT)
      hint = " (is the responder attached with this --pin-dir?)";
    else if (err == EINVAL)
      // BPF_OBJ_GET refuses read-only access to programs and links.
      hint = " (is something other than the responder's key map pinned there?)";
    else if (err == EPERM || err == EACCES)
      hint = " (reading the responder's keys needs CAP_BPF and CAP_SYS_ADMIN)";
    throw error("bpf_obj_get on " + path_.string() +
                " failed: " + std::strerror(err) + hint);
  }
  if (!is_bpf_map(fd.get()))
    throw error(path_.string() +
                " is not a BPF map, so not the responder's "
                "key map");
  cached_ = read_keys(fd.get());
  read_at_ = clock_();
}

key_set pinned_key_source::keys() {
  if (clock_() - read_at_ >= max_age_) refresh();
  return cached_;
}

void pinned_key_source::refresh() {
  read_at_ = clock_();
  int err = 0;
  const unique_fd fd = open_key_map(path_, &err);
  // Nothing pinned (the agent stopped) or something else pinned: no keys,
  // so that no cookie is accepted that no responder vouches for.
  if (!fd || !is_bpf_map(fd.get())) {
    cached_ = {};
    return;
  }
  try {
    cached_ = read_keys(fd.get());
  } catch (const error&) {
    cached_ = {};
  }
}

}  // namespace dtls_cookie
