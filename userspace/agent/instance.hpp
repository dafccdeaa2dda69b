// A running responder as the agent sees it: the program, its maps and its
// per-interface links pinned in one bpffs directory, so that every
// subcommand, and an agent started later, acts on the same instance.
//
// Layout of a pin directory (default /sys/fs/bpf/dtls-cookie):
//   prog            the XDP program
//   keys            the outer key map (array of maps, one slot)
//   counters        the per-CPU counters
//   config          the program's read-only data (struct dc_config)
//   link-<ifname>   one BPF link per interface the program is attached to;
//                   bpffs refuses dots in names (EPERM, reserved), so a
//                   '.' of the name (eth0.100) is written ':', which no
//                   interface name contains
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/responder.hpp"

namespace dtls_cookie::agent {

inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/dtls-cookie";

struct link_info {
  std::string ifname;
  int ifindex = 0;
  attach_mode mode = attach_mode::native;
  uint32_t link_id = 0;
};

// An instance of which some pins are missing: an agent stopped while it
// created or removed it.
class incomplete_instance_error : public error {
 public:
  incomplete_instance_error(const std::string& what, bool attached)
      : error(what), attached_(attached) {}
  // Whether a link pin remains (something may still run the program).
  bool attached() const noexcept { return attached_; }

 private:
  bool attached_;
};

// Owns the fds of a pinned instance. Move-only.
class instance {
 public:
  // Opens the instance pinned in dir. Empty when dir holds nothing of
  // ours. Throws when dir is not on a bpffs; foreign_pin_error when it
  // holds something that is not ours (wrong object kind, name, layout or
  // BTF, a map the pinned program does not use), naming the path; and
  // incomplete_instance_error when some of its pins are missing.
  static std::optional<instance> open(const std::filesystem::path& dir);

  // Removes an incomplete instance attached nowhere after checking that
  // every pin left is ours, and returns the key set its key map held (if
  // that was left), so that a new instance can carry it on. Does nothing
  // and returns nothing when dir holds no incomplete instance.
  static std::optional<key_set> remove_leftovers(
      const std::filesystem::path& dir);

  // Loads a new program with cfg, publishes keys and pins program and maps
  // in dir (created). On any failure nothing stays pinned.
  static instance create(const std::filesystem::path& dir, const dc_config& cfg,
                         const key_set& keys);

  const std::filesystem::path& dir() const { return dir_; }
  int prog_fd() const { return prog_.get(); }
  int keys_fd() const { return keys_.get(); }
  int counters_fd() const { return counters_.get(); }
  int config_fd() const { return config_.get(); }
  uint32_t prog_id() const;

  dc_config config() const;
  key_set keys() const;
  void publish(const key_set& keys) const;
  counters read_counters() const;
  // The links pinned in dir, each with the mode the kernel reports; an
  // interface that has gone away shows ifindex 0.
  std::vector<link_info> links() const;

  // Attaches the pinned program to ifname through a new pinned link.
  // Refuses an interface that already carries an XDP program unless
  // replace is set; never falls back from native to generic mode.
  link_info attach(const std::string& ifname, attach_mode mode, bool replace);
  // Detaches from ifname (only a link this tool pinned). Returns false
  // when it was not attached.
  bool detach(const std::string& ifname);
  // Removes every pin (after the last detach).
  void remove();

  // Where the link for ifname is pinned.
  std::filesystem::path link_pin(const std::string& ifname) const;

 private:
  instance() = default;
  // open() without the completeness check: the pins present, each
  // checked, and the names of those missing.
  static std::optional<instance> open_present(
      const std::filesystem::path& dir, std::vector<std::string>& missing);
  std::filesystem::path dir_;
  unique_fd prog_, keys_, counters_, config_;
};

// Makes sure dir lies on a bpffs. The default location is mounted when
// /sys/fs/bpf is not a bpffs yet; any other directory must already be on
// one. Throws dtls_cookie::error saying what to do.
void ensure_bpffs(const std::filesystem::path& dir);

// An exclusive flock on the pin directory's parent, held while a command
// changes an instance (create, attach, detach, rotate, remove) so that
// two agents never interleave; released when the fd closes. Waits for a
// holder up to wait, then throws naming the process that holds it.
inline constexpr std::chrono::seconds kLockWait{10};
unique_fd lock_pin_dir(const std::filesystem::path& dir,
                       std::chrono::milliseconds wait = kLockWait);

// Throws when ifname carries an XDP program, naming it and --replace.
// attach() checks this itself; a caller checks early to refuse before it
// makes anything.
void refuse_foreign_xdp(const std::string& ifname);

// "native" or "skb", as the CLI spells the modes.
const char* mode_name(attach_mode mode);

}  // namespace dtls_cookie::agent
