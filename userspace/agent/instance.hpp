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
//   multiprog-<ifname>  the responder's freplace program (one for every such
//                   interface, sharing the maps above), pinned once for each
//                   interface where it runs in libxdp's dispatcher beside
//                   other XDP programs; libxdp pins the dispatcher and the
//                   links under its own bpffs directory
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
  int ifindex = 0;  // 0 when the attachment is gone (see gone)
  attach_mode mode = attach_mode::native;
  uint32_t link_id = 0;  // the BPF link; 0 through libxdp's dispatcher
  // Through libxdp's dispatcher: its program id and ours (the extension).
  bool multiprog = false;
  uint32_t dispatcher_id = 0;
  uint32_t prog_id = 0;
  std::string gone = {};  // why ifindex is 0, for messages
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
  // replace is set; never falls back from native to generic mode. With
  // multiprog, links extension_fd() into the interface's libxdp dispatcher
  // instead (made when the interface has no XDP program), beside the
  // programs it holds; replace then removes only a program that is not a
  // dispatcher.
  link_info attach(const std::string& ifname, attach_mode mode, bool replace,
                   bool multiprog = false);
  // Detaches from ifname (only what this tool attached). Returns false
  // when it was not attached.
  bool detach(const std::string& ifname);

  // The responder's freplace program that runs in libxdp's dispatchers:
  // the one pinned for an interface, else loaded now over the pinned
  // program with its maps (and kept for the life of this object).
  int extension_fd();
  // Loads extension_fd() and proves that libxdp's dispatcher can hold it
  // on this kernel (probe_dispatcher()), before any interface changes;
  // throws error saying what was refused and what to do.
  void probe_multiprog();
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
  // The link_info of a multiprog-<ifname> pin, from libxdp's view of the
  // interface's dispatcher.
  link_info multiprog_link(const std::string& pin_name) const;
  link_info attach_multiprog(const std::string& ifname, int ifindex,
                             attach_mode mode, bool replace,
                             const std::filesystem::path& pin);
  std::filesystem::path dir_;
  unique_fd prog_, keys_, counters_, config_;
  unique_fd extension_;  // see extension_fd()
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

// Throws when ifname carries an XDP program, naming it and --replace (and
// --multiprog when it is libxdp's dispatcher). attach() checks this
// itself; a caller checks early to refuse before it makes anything.
void refuse_foreign_xdp(const std::string& ifname);

// For --multiprog: throws when the responder cannot run beside what
// ifname carries in mode (a program alone, not in libxdp's dispatcher,
// unless replace; a dispatcher in the other mode or of another libxdp),
// saying why and what to do.
void refuse_unshareable_xdp(const std::string& ifname, attach_mode mode,
                            bool replace);

// For --multiprog, before anything is made: throws when this kernel loads
// no freplace programs, which libxdp's dispatcher is made of, or when
// libxdp's bpffs is missing.
void require_multiprog_support();

// "native" or "skb", as the CLI spells the modes.
const char* mode_name(attach_mode mode);

}  // namespace dtls_cookie::agent
