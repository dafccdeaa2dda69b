// The pinned instance: creating, opening and checking the program, maps
// and links that one pin directory holds, and attaching and detaching
// interfaces through pinned BPF links.
#include "instance.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/multiprog.hpp"
#include "dtls_cookie/pinned_layout.hpp"

namespace dtls_cookie::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kProgPin = "prog";
constexpr const char* kKeysPin = "keys";
constexpr const char* kCountersPin = "counters";
constexpr const char* kConfigPin = "config";
constexpr std::string_view kLinkPrefix = "link-";
constexpr std::string_view kMultiprogPrefix = "multiprog-";
constexpr const char* kBpffsRoot = "/sys/fs/bpf";
constexpr std::chrono::milliseconds kLockPoll{50};

// What the embedded object calls its program; the maps' names are in
// their layouts (pinned_layout.hpp), but for the reply limit's, which is
// not pinned: an extension finds it through the pinned program.
constexpr std::string_view kProgName = "dc_responder";
constexpr std::string_view kReplyLimitMapName = "dc_reply_limit";

std::string errno_text(int err) {
  std::string s = std::strerror(err < 0 ? -err : err);
  if (err == EPERM || err == -EPERM)
    s += " (run as root or with CAP_BPF+CAP_NET_ADMIN)";
  return s;
}

[[noreturn]] void not_ours(const fs::path& path, const std::string& why) {
  throw foreign_pin_error(path, why);
}

// bpf_prog_info, bpf_map_info or bpf_link_info of a pinned object.
template <typename Info>
Info object_info(int fd, const fs::path& path) {
  Info info{};
  uint32_t len = sizeof info;
  const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  if (err)
    throw error("bpf_obj_get_info_by_fd on " + path.string() +
                " failed: " + errno_text(err));
  return info;
}

bpf_prog_info prog_info(int fd, const fs::path& path) {
  return object_info<bpf_prog_info>(fd, path);
}

bpf_map_info map_info(int fd, const fs::path& path) {
  return object_info<bpf_map_info>(fd, path);
}

bpf_link_info link_info_of(int fd, const fs::path& path) {
  return object_info<bpf_link_info>(fd, path);
}

// The ids of the maps a program uses.
std::set<uint32_t> prog_map_ids(int fd, const fs::path& path) {
  const bpf_prog_info first = prog_info(fd, path);
  std::vector<uint32_t> ids(first.nr_map_ids);
  bpf_prog_info info{};
  info.nr_map_ids = uint32_t(ids.size());
  info.map_ids = uint64_t(uintptr_t(ids.data()));
  uint32_t len = sizeof info;
  const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  if (err)
    throw error("bpf_obj_get_info_by_fd on " + path.string() +
                " failed: " + errno_text(err));
  ids.resize(std::min<size_t>(ids.size(), info.nr_map_ids));
  return {ids.begin(), ids.end()};
}

// Opens a pin that must be one of ours; any object of another kind, or
// anything bpf_obj_get cannot open, is reported as not ours.
unique_fd open_object(const fs::path& path) {
  unique_fd fd(bpf_obj_get(path.c_str()));
  if (fd) return fd;
  const int err = errno;
  if (err == EPERM)
    throw error("bpf_obj_get on " + path.string() +
                " failed: " + errno_text(err));
  not_ours(path, std::string("bpf_obj_get: ") + std::strerror(err));
}

// The id of a pinned map, after checking that it has the layout it must
// have.
uint32_t check_map(int fd, const fs::path& path, const map_layout& want) {
  check_map_layout(fd, path, want);
  return map_info(fd, path).id;
}

// The nearest directory of p that exists (p itself included).
fs::path existing_ancestor(fs::path p) {
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_relative_path()) p = p.parent_path();
  return p;
}

// Who holds a flock on the file fd refers to, from /proc/locks: "process
// 123 (dtls-cookie)", or "another process" when it cannot be told.
std::string lock_holder(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "another process";
  char want[64];
  std::snprintf(want, sizeof want, "%02x:%02x:%llu", major(st.st_dev),
                minor(st.st_dev), (unsigned long long)st.st_ino);
  std::ifstream locks("/proc/locks");
  for (std::string line; std::getline(locks, line);) {
    // "1: FLOCK  ADVISORY  WRITE 123 00:2a:4567 0 EOF"; waiters have "->".
    std::istringstream f(line);
    std::string n, kind, advisory, mode, pid, file;
    f >> n >> kind >> advisory >> mode >> pid >> file;
    if (kind != "FLOCK" || file != want || pid == std::to_string(::getpid()))
      continue;
    std::ifstream comm("/proc/" + pid + "/comm");
    std::string name;
    // The kernel names the process that took the lock; one that inherited
    // the descriptor holds it on after that one exits.
    if (!std::getline(comm, name))
      return "a process that inherited the lock of process " + pid +
             " (which has exited)";
    return "process " + pid + " (" + name + ")";
  }
  return "another process";
}

bool is_link_pin(const std::string& name) {
  return name.size() > kLinkPrefix.size() && name.starts_with(kLinkPrefix);
}

bool is_multiprog_pin(const std::string& name) {
  return name.size() > kMultiprogPrefix.size() &&
         name.starts_with(kMultiprogPrefix);
}

std::string ifname_of_pin(const std::string& pin_name) {
  const size_t prefix =
      is_multiprog_pin(pin_name) ? kMultiprogPrefix.size() : kLinkPrefix.size();
  std::string n = pin_name.substr(prefix);
  std::replace(n.begin(), n.end(), ':', '.');
  return n;
}

// The pin name of ifname after prefix; see link_pin().
std::string pin_name(std::string_view prefix, std::string ifname) {
  std::replace(ifname.begin(), ifname.end(), '.', ':');
  return std::string(prefix) + ifname;
}

void check_ifname(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IF_NAMESIZE ||
      ifname.find('/') != std::string::npos || ifname == "." || ifname == "..")
    throw error("'" + ifname + "' is not an interface name");
}

int ifindex_of(const std::string& ifname) {
  check_ifname(ifname);
  const unsigned idx = if_nametoindex(ifname.c_str());
  if (idx == 0)
    throw error("no interface named " + ifname +
                " (ip link show lists them; an interface in another network "
                "namespace is not visible here)");
  return int(idx);
}

std::string prog_name_by_id(uint32_t id) {
  unique_fd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return "?";
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len)) return "?";
  return info.name[0] ? info.name : "(no name)";
}

std::string describe_xdp(const xdp_state& s) {
  std::string out = "XDP program '" + prog_name_by_id(s.prog_id) + "' (id " +
                    std::to_string(s.prog_id);
  if (s.mode) out += std::string(", ") + mode_name(*s.mode) + " mode";
  return out + ")";
}

// "a (id 7, priority 10), b (id 9, priority 50)"
std::string describe_programs(const xdp_hook& h) {
  std::string out;
  for (const dispatched_program& p : h.programs)
    out += (out.empty() ? "" : ", ") + p.name + " (id " + std::to_string(p.id) +
           ", priority " + std::to_string(p.priority) + ")";
  return out.empty() ? "no programs" : out;
}

// libxdp's view of the hook, or nothing when libxdp cannot read it (a
// dispatcher of another libxdp): the callers then go by the kernel's view.
std::optional<xdp_hook> try_query_hook(int ifindex) {
  try {
    return query_xdp_hook(ifindex);
  } catch (const bpf_error& e) {
    spdlog::debug("libxdp cannot read the XDP hook of ifindex {}: {}", ifindex,
                  e.what());
    return std::nullopt;
  }
}

bool holds_program(const xdp_hook& h, uint32_t id) {
  return std::any_of(h.programs.begin(), h.programs.end(),
                     [id](const dispatched_program& p) { return p.id == id; });
}

// Removes a program attached through netlink from ifindex, in the mode the
// kernel reports it in (both when it reports several); a dispatcher goes
// through libxdp, which unpins it too. Throws error when a BPF link holds
// the program.
void remove_foreign_xdp(const std::string& ifname, int ifindex,
                        const xdp_state& present) {
  // Described first: once detached, the program may be gone.
  const std::string foreign = describe_xdp(present);
  const std::optional<xdp_hook> hook = try_query_hook(ifindex);
  try {
    if (hook && hook->dispatcher) {
      remove_dispatcher(ifindex);
      spdlog::info(
          "removed libxdp's dispatcher (id {}) from {} with {} "
          "(--replace)",
          hook->prog_id, ifname, describe_programs(*hook));
      return;
    }
    if (present.mode) {
      detach_netlink_xdp(ifindex, *present.mode);
    } else {
      for (attach_mode m : {attach_mode::native, attach_mode::generic})
        if (query_xdp(ifindex).prog_id != 0) detach_netlink_xdp(ifindex, m);
    }
  } catch (const bpf_error& e) {
    if (e.code() != EBUSY) throw;
    throw error(foreign + " on " + ifname +
                " is held by a BPF link of another tool, which --replace "
                "cannot remove: detach it with that tool (bpftool link "
                "show lists links)");
  }
  spdlog::info("removed {} from {} (--replace)", foreign, ifname);
}

}  // namespace

void refuse_foreign_xdp(const std::string& ifname) {
  const int ifindex = ifindex_of(ifname);
  const xdp_state present = query_xdp(ifindex);
  if (present.prog_id == 0) return;
  std::string what = describe_xdp(present);
  std::string advice =
      "dtls-cookie does not replace it unless --replace is given";
  if (const std::optional<xdp_hook> h = try_query_hook(ifindex);
      h && h->dispatcher) {
    what += ", libxdp's dispatcher holding " + describe_programs(*h);
    advice =
        "add --multiprog to run beside them, or --replace to remove "
        "them all";
  }
  throw error(ifname + " already carries " + what + ": " + advice);
}

void require_multiprog_support() {
  if (!kernel_loads_extensions())
    throw error(
        "--multiprog: this kernel loads no freplace (BPF_PROG_TYPE_EXT) "
        "programs (libbpf's probe of the type failed), and libxdp's "
        "dispatcher, which runs several XDP programs on one interface, is "
        "made of them; libxdp itself (so "
        "xdp-loader too) attaches a single program alone here. Attach "
        "without --multiprog to an interface that carries no other XDP "
        "program");
  const fs::path bpffs = libxdp_bpffs();
  ensure_bpffs(bpffs);
}

void refuse_unshareable_xdp(const std::string& ifname, attach_mode mode,
                            bool replace) {
  const int ifindex = ifindex_of(ifname);
  const xdp_state present = query_xdp(ifindex);
  if (present.prog_id == 0) return;
  xdp_hook hook;
  try {
    hook = query_xdp_hook(ifindex);
  } catch (const bpf_error& e) {
    throw error(ifname + " carries " + describe_xdp(present) +
                ", which this libxdp cannot read (" + e.what() +
                "; a dispatcher of a newer libxdp says so): --multiprog "
                "joins only a dispatcher this libxdp can rebuild; attach "
                "with the tools of that libxdp, or unload it first "
                "(xdp-loader unload --all " +
                ifname + ")");
  }
  if (!hook.dispatcher) {
    if (replace) return;
    throw error(
        ifname + " carries " + describe_xdp(present) +
        " alone, not in libxdp's dispatcher, so --multiprog cannot run "
        "beside it: load it again through libxdp (xdp-loader load; libxdp "
        "under " +
        libxdp_bpffs().string() +
        ", LIBXDP_BPFFS, must be the one this agent uses), or give --replace "
        "to remove it");
  }
  if (hook.mode && *hook.mode != mode)
    throw error(ifname + "'s libxdp dispatcher (id " +
                std::to_string(hook.prog_id) + ", holding " +
                describe_programs(hook) + ") runs in " + mode_name(*hook.mode) +
                " mode: add --mode " + mode_name(*hook.mode) + " to join it");
}

const char* mode_name(attach_mode mode) {
  return mode == attach_mode::native ? "native" : "skb";
}

void ensure_bpffs(const fs::path& dir) {
  const fs::path root = kBpffsRoot;
  const auto rel = dir.lexically_normal().lexically_relative(root);
  const bool under_root =
      !rel.empty() && rel.native() != ".." && !rel.native().starts_with("../");
  if (under_root && !on_bpffs(root)) {
    if (::mount("bpf", root.c_str(), "bpf", 0, "mode=0700") != 0) {
      const int err = errno;
      std::string why = std::strerror(err);
      if (err == EPERM) why += ", mounting needs root or CAP_SYS_ADMIN";
      throw error("cannot mount a bpffs on " + root.string() +
                  " (mount: " + why + "): mount one (mount -t bpf bpf " +
                  root.string() + ") or pass --pin-dir on a bpffs");
    }
    spdlog::info("mounted a bpffs on {}", root.string());
  }
  spdlog::debug("pin dir {}: nearest existing directory {}", dir.string(),
                existing_ancestor(dir).string());
  require_bpffs(dir);
}

unique_fd lock_pin_dir(const fs::path& dir, std::chrono::milliseconds wait) {
  const fs::path parent = dir.lexically_normal().parent_path();
  unique_fd fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    // No parent, no instance: nothing to serialise against.
    if (errno == ENOENT) return {};
    throw error("cannot open " + parent.string() +
                " to lock it: " + errno_text(errno));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
  if (errno != EWOULDBLOCK)
    throw error("cannot lock " + parent.string() + ": " + errno_text(errno));
  // Another command changes an instance for a second or so; a holder
  // that takes far longer hangs, and waiting on it forever would hang
  // this command (and a daemon's rotations) too.
  spdlog::info("waiting for {} to release its lock on {}",
               lock_holder(fd.get()), parent.string());
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kLockPoll);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    if (errno != EWOULDBLOCK)
      throw error("cannot lock " + parent.string() + ": " + errno_text(errno));
  }
  throw error(lock_holder(fd.get()) + " has held the lock on " +
              parent.string() + " (flock) for more than " +
              std::to_string(wait.count() / 1000) +
              " s: if it is a dtls-cookie command that hangs, stop it; "
              "else try again when it is done");
}

std::optional<instance> instance::open(const fs::path& dir) {
  std::vector<std::string> missing;
  std::optional<instance> inst = open_present(dir, missing);
  if (!inst || missing.empty()) return inst;
  std::string names;
  for (const std::string& n : missing) names += (names.empty() ? "" : ", ") + n;
  const bool attached = !inst->links().empty();
  throw incomplete_instance_error(
      "the instance in " + dir.string() + " is incomplete (no " + names +
          (missing.size() == 1 ? " pin" : " pins") +
          (attached ? ", yet attached" : ", attached nowhere") +
          "), left by an agent stopped while it created or removed it: " +
          (attached ? ""
                    : "dtls-cookie attach or run with this --pin-dir "
                      "replaces it, or ") +
          "remove the directory (rm -r " + dir.string() +
          ") after checking that nothing uses it",
      attached);
}

std::optional<instance> instance::open_present(
    const fs::path& dir, std::vector<std::string>& missing) {
  // Nothing can be pinned off a bpffs, so a missing directory there is
  // reported as the real cause rather than as "nothing attached".
  require_bpffs(dir);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) return std::nullopt;
  if (fs::is_symlink(st) && !fs::exists(dir, ec))
    not_ours(dir, "a symbolic link to " + fs::read_symlink(dir, ec).string() +
                      ", which does not exist");
  if (!fs::is_directory(dir, ec)) not_ours(dir, "not a directory");

  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.insert(entry.path().filename().string());
  if (names.empty()) return std::nullopt;
  for (const std::string& n : names) {
    if (n == kProgPin || n == kKeysPin || n == kCountersPin ||
        n == kConfigPin || is_link_pin(n) || is_multiprog_pin(n))
      continue;
    not_ours(dir / n, "an unexpected name in a pin directory");
  }
  // What is there is judged before what is missing, so a foreign object
  // is reported as such rather than as a broken instance.
  auto open_pin = [&](const char* name, std::string_view kind) {
    if (!names.contains(name)) return unique_fd();
    unique_fd fd = open_object(dir / name);
    const std::string got = bpf_object_kind(fd.get());
    if (got != kind)
      not_ours(dir / name, "a BPF " + got + ", not a " + std::string(kind));
    return fd;
  };
  instance inst;
  inst.dir_ = dir;
  inst.prog_ = open_pin(kProgPin, "program");
  inst.keys_ = open_pin(kKeysPin, "map");
  inst.counters_ = open_pin(kCountersPin, "map");
  inst.config_ = open_pin(kConfigPin, "map");

  bpf_prog_info pi{};
  if (inst.prog_) {
    pi = prog_info(inst.prog_.get(), dir / kProgPin);
    if (pi.type != BPF_PROG_TYPE_XDP || std::string_view(pi.name) != kProgName)
      not_ours(dir / kProgPin, "program '" + std::string(pi.name) +
                                   "' is not the XDP program " +
                                   std::string(kProgName));
  }
  std::vector<std::pair<uint32_t, const char*>> map_ids;
  for (auto [fd, name, layout] :
       {std::tuple{inst.keys_.get(), kKeysPin, &kKeysMapLayout},
        std::tuple{inst.counters_.get(), kCountersPin, &kCountersMapLayout},
        std::tuple{inst.config_.get(), kConfigPin, &kConfigMapLayout}})
    if (fd >= 0) map_ids.emplace_back(check_map(fd, dir / name, *layout), name);

  // Maps of the right layout are not enough: they must be the very maps
  // the pinned program reads, or a rotation would miss it.
  if (inst.prog_) {
    const std::set<uint32_t> used = prog_map_ids(inst.prog_.get(), dir);
    for (auto [id, pin] : map_ids)
      if (!used.contains(id))
        not_ours(dir / pin, "a map the pinned program does not use");
  }

  for (const std::string& n : names) {
    if (!is_link_pin(n)) continue;
    const unique_fd link = open_object(dir / n);
    if (bpf_object_kind(link.get()) != "link")
      not_ours(dir / n,
               "a BPF " + bpf_object_kind(link.get()) + ", not a link");
    const bpf_link_info li = link_info_of(link.get(), dir / n);
    if (li.type != BPF_LINK_TYPE_XDP || !inst.prog_ || li.prog_id != pi.id)
      not_ours(dir / n, "not an XDP link of the pinned program");
  }
  // The freplace program of the interfaces in libxdp's dispatchers: one
  // program, ours, reading the very maps of the pinned one.
  uint32_t extension_id = 0;
  for (const std::string& n : names) {
    if (!is_multiprog_pin(n)) continue;
    const unique_fd fd = open_object(dir / n);
    if (bpf_object_kind(fd.get()) != "program")
      not_ours(dir / n,
               "a BPF " + bpf_object_kind(fd.get()) + ", not a program");
    const bpf_prog_info ei = prog_info(fd.get(), dir / n);
    if (ei.type != BPF_PROG_TYPE_EXT || std::string_view(ei.name) != kProgName)
      not_ours(dir / n, "program '" + std::string(ei.name) +
                            "' is not the freplace program " +
                            std::string(kProgName));
    if (!inst.prog_ || prog_map_ids(fd.get(), dir / n) !=
                           prog_map_ids(inst.prog_.get(), dir / kProgPin))
      not_ours(dir / n,
               "a freplace program that does not use the maps of "
               "the pinned program");
    if (extension_id != 0 && ei.id != extension_id)
      not_ours(dir / n, "another freplace program than the other " +
                            std::string(kMultiprogPrefix) + "* pins");
    extension_id = ei.id;
  }
  for (const char* n : {kProgPin, kKeysPin, kCountersPin, kConfigPin})
    if (!names.contains(n)) missing.emplace_back(n);
  spdlog::debug("opened the instance in {}: program id {}, {} maps",
                dir.string(), pi.id, map_ids.size());
  return inst;
}

std::optional<key_set> instance::remove_leftovers(const fs::path& dir) {
  std::vector<std::string> missing;
  std::optional<instance> inst = open_present(dir, missing);
  if (!inst || missing.empty()) return std::nullopt;
  if (!inst->links().empty())
    throw error("the incomplete instance in " + dir.string() +
                " is attached: it is not removed on its own");
  std::optional<key_set> keys;
  if (inst->keys_) keys = inst->keys();
  inst->remove();
  return keys;
}

instance instance::create(const fs::path& dir, const dc_config& cfg,
                          const key_set& keys) {
  // The directory first: a place that cannot hold pins is refused before
  // a program is loaded.
  std::error_code ec;
  const bool made_dir = fs::create_directories(dir, ec);
  if (ec)
    throw error("cannot create the pin directory " + dir.string() + ": " +
                ec.message());
  std::vector<fs::path> pinned;
  try {
    const responder r = responder::load(cfg);
    r.publish_keys(keys);
    for (auto [fd, name] :
         {std::pair{r.prog_fd(), kProgPin}, std::pair{r.keys_fd(), kKeysPin},
          std::pair{r.counters_fd(), kCountersPin},
          std::pair{r.config_fd(), kConfigPin}}) {
      pin_object(fd, (dir / name).string());
      pinned.push_back(dir / name);
    }
    auto inst = open(dir);
    if (!inst)
      throw error("the instance just pinned in " + dir.string() +
                  " cannot be opened again");
    return std::move(*inst);
  } catch (...) {
    for (const fs::path& p : pinned) ::unlink(p.c_str());
    if (made_dir) ::rmdir(dir.c_str());
    throw;
  }
}

uint32_t instance::prog_id() const {
  return prog_info(prog_.get(), dir_ / kProgPin).id;
}

dc_config instance::config() const { return read_config(config_.get()); }

key_set instance::keys() const { return read_keys(keys_.get()); }

void instance::publish(const key_set& keys) const {
  publish_keys(keys_.get(), keys);
}

counters instance::read_counters() const {
  return dtls_cookie::read_counters(counters_.get());
}

std::vector<link_info> instance::links() const {
  std::vector<link_info> out;
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string n = entry.path().filename().string();
    if (is_link_pin(n) || is_multiprog_pin(n)) names.insert(n);
  }
  for (const std::string& n : names) {
    if (is_multiprog_pin(n)) {
      out.push_back(multiprog_link(n));
      continue;
    }
    const unique_fd fd = open_object(dir_ / n);
    const bpf_link_info li = link_info_of(fd.get(), dir_ / n);
    link_info l;
    l.ifname = ifname_of_pin(n);
    l.ifindex = int(li.xdp.ifindex);
    l.link_id = li.id;
    if (l.ifindex != 0) {
      const xdp_state s = query_xdp(l.ifindex);
      if (s.mode) l.mode = *s.mode;
    } else {
      l.gone = "the interface no longer exists";
    }
    out.push_back(l);
  }
  return out;
}

link_info instance::attach(const std::string& ifname, attach_mode mode,
                           bool replace, bool multiprog) {
  const int ifindex = ifindex_of(ifname);
  const fs::path pin = link_pin(ifname);
  const fs::path mpin = dir_ / pin_name(kMultiprogPrefix, ifname);
  std::error_code ec;
  for (const fs::path& p : {pin, mpin})
    if (fs::exists(p, ec))
      throw error("already attached to " + ifname + " (" + p.string() +
                  "): detach it first (dtls-cookie detach --iface " + ifname +
                  ")");
  if (multiprog) return attach_multiprog(ifname, ifindex, mode, replace, mpin);

  if (!replace) refuse_foreign_xdp(ifname);
  const xdp_state present = query_xdp(ifindex);
  spdlog::debug("{} (ifindex {}) before attaching: XDP program id {}", ifname,
                ifindex, present.prog_id);
  // XXX: not atomic: if our link cannot be created after this, the
  // interface is left with no XDP program at all.
  if (present.prog_id != 0) remove_foreign_xdp(ifname, ifindex, present);

  unique_fd link;
  try {
    link = create_xdp_link(prog_.get(), ifindex, mode);
  } catch (const bpf_error& e) {
    if (e.code() == EOPNOTSUPP && mode == attach_mode::native)
      throw error(ifname + " has no native XDP support (" + e.what() +
                  "): use --mode skb");
    if (e.code() == EBUSY || e.code() == EEXIST)
      throw error(ifname + " got another XDP program meanwhile (" + e.what() +
                  "): check ip link show " + ifname);
    throw;
  }
  // Until the pin exists, closing the fd is what undoes the attach.
  pin_object(link.get(), pin.string());
  const bpf_link_info li = link_info_of(link.get(), pin);
  return link_info{ifname, ifindex, mode, li.id};
}

link_info instance::attach_multiprog(const std::string& ifname, int ifindex,
                                     attach_mode mode, bool replace,
                                     const fs::path& pin) {
  refuse_unshareable_xdp(ifname, mode, replace);
  const xdp_state present = query_xdp(ifindex);
  if (present.prog_id != 0) {
    const std::optional<xdp_hook> hook = try_query_hook(ifindex);
    // XXX: not atomic, as without --multiprog: a program removed here is
    // not put back if the dispatcher cannot be attached after it.
    if (!hook || !hook->dispatcher)
      remove_foreign_xdp(ifname, ifindex, present);
  }
  const int ext = extension_fd();
  try {
    attach_to_dispatcher(ext, ifindex, mode);
  } catch (const bpf_error& e) {
    std::string why = e.what();
    if (e.code() == EOPNOTSUPP && mode == attach_mode::native)
      why += "; if " + ifname + " has no native XDP, use --mode skb";
    throw error("libxdp could not run the responder in the dispatcher of " +
                ifname + " (" + why + "; -v shows libxdp's reasons)");
  }
  // Until the pin exists, nothing of ours records the attachment: undone
  // through libxdp if the pin cannot be made.
  try {
    pin_object(ext, pin.string());
  } catch (...) {
    try {
      detach_from_dispatcher(ext, ifindex);
    } catch (const std::exception& e) {
      spdlog::warn("undoing the attachment to {}: {}", ifname, e.what());
    }
    throw;
  }
  return multiprog_link(pin.filename().string());
}

link_info instance::multiprog_link(const std::string& pin) const {
  link_info l;
  l.ifname = ifname_of_pin(pin);
  l.multiprog = true;
  const unique_fd fd = open_object(dir_ / pin);
  l.prog_id = prog_info(fd.get(), dir_ / pin).id;
  const unsigned idx = if_nametoindex(l.ifname.c_str());
  if (idx == 0) {
    l.gone = "the interface no longer exists";
    return l;
  }
  const std::optional<xdp_hook> h = try_query_hook(int(idx));
  if (!h || !h->dispatcher || !holds_program(*h, l.prog_id)) {
    l.gone = "no longer in libxdp's dispatcher on " + l.ifname +
             " (removed by another tool, or the interface was made anew)";
    return l;
  }
  l.ifindex = int(idx);
  l.dispatcher_id = h->prog_id;
  if (h->mode) l.mode = *h->mode;
  return l;
}

int instance::extension_fd() {
  if (extension_) return extension_.get();
  for (const auto& entry : fs::directory_iterator(dir_))
    if (is_multiprog_pin(entry.path().filename().string())) {
      extension_ = open_object(entry.path());
      return extension_.get();
    }
  // The reply limit's map is not pinned; the pinned program names it.
  unique_fd reply_limit;
  for (uint32_t id : prog_map_ids(prog_.get(), dir_ / kProgPin)) {
    unique_fd fd(bpf_map_get_fd_by_id(id));
    if (!fd)
      throw error("bpf_map_get_fd_by_id(" + std::to_string(id) +
                  ") failed: " + errno_text(errno));
    if (std::string_view(map_info(fd.get(), dir_ / kProgPin).name) ==
        kReplyLimitMapName) {
      reply_limit = std::move(fd);
      break;
    }
  }
  if (!reply_limit)
    throw error("the program pinned in " + dir_.string() + " uses no map " +
                std::string(kReplyLimitMapName));
  const responder_maps maps{keys_.get(), counters_.get(), config_.get(),
                            reply_limit.get()};
  extension_ = load_extension(prog_.get(), maps);
  spdlog::debug("loaded dc_responder as a freplace program (id {})",
                prog_info(extension_.get(), dir_).id);
  return extension_.get();
}

void instance::probe_multiprog() {
  try {
    probe_dispatcher(extension_fd());
  } catch (const bpf_error& e) {
    std::string why;
    utsname u{};
    unsigned major = 0, minor = 0;
    if (::uname(&u) == 0 &&
        std::sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
        (major > 6 || (major == 6 && minor >= 13)))
      why =
          ": from Linux 6.13 on the kernel refuses an extension that "
          "changes packet data (the responder shrinks every frame it "
          "answers) in place of a dispatcher slot that does not, and the "
          "slots of this libxdp's dispatcher do not; a libxdp whose slots "
          "are marked as changing packet data lifts this";
    throw error(
        "--multiprog: libxdp cannot run the responder in its "
        "dispatcher on this kernel (" +
        std::string(e.what()) + ")" + why +
        ". Attach without --multiprog to an interface that "
        "carries no other XDP program");
  }
}

bool instance::detach(const std::string& ifname) {
  const fs::path pin = link_pin(ifname);
  std::error_code ec;
  if (!fs::exists(pin, ec)) {
    const fs::path mpin = dir_ / pin_name(kMultiprogPrefix, ifname);
    if (!fs::exists(mpin, ec)) return false;
    const unique_fd fd = open_object(mpin);
    const unsigned idx = if_nametoindex(ifname.c_str());
    if (idx != 0 && !detach_from_dispatcher(fd.get(), int(idx)))
      spdlog::debug("the responder was no longer in the dispatcher of {}",
                    ifname);
    if (::unlink(mpin.c_str()) != 0)
      throw error("cannot remove " + mpin.string() + ": " + errno_text(errno));
    return true;
  }
  const unique_fd link = open_object(pin);
  const bpf_link_info li = link_info_of(link.get(), pin);
  // bpf_link_detach clears the hook even while another process (a running
  // agent) still holds the link; a link whose interface is gone has
  // nothing left to detach.
  if (li.xdp.ifindex != 0) {
    const int err = bpf_link_detach(link.get());
    if (err)
      throw error("bpf_link_detach on " + pin.string() +
                  " failed: " + errno_text(err));
  }
  if (::unlink(pin.c_str()) != 0)
    throw error("cannot remove " + pin.string() + ": " + errno_text(errno));
  return true;
}

fs::path instance::link_pin(const std::string& ifname) const {
  check_ifname(ifname);
  return dir_ / pin_name(kLinkPrefix, ifname);
}

void instance::remove() {
  std::vector<fs::path> pins;
  for (const auto& entry : fs::directory_iterator(dir_))
    if (is_link_pin(entry.path().filename().string()) ||
        is_multiprog_pin(entry.path().filename().string()))
      pins.push_back(entry.path());
  for (const char* n : {kConfigPin, kCountersPin, kKeysPin, kProgPin})
    pins.push_back(dir_ / n);
  for (const fs::path& p : pins)
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
      throw error("cannot remove " + p.string() + ": " + errno_text(errno));
  // A pin directory that is itself a mount point stays (EBUSY).
  if (::rmdir(dir_.c_str()) != 0 && errno != EBUSY && errno != ENOENT)
    spdlog::warn("cannot remove the pin directory {}: {}", dir_.string(),
                 errno_text(errno));
}

}  // namespace dtls_cookie::agent
