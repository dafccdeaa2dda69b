// The layouts of the responder's pinned maps and the check of a pinned map
// against them: kind, type, sizes, entries, flags, name, BTF and the inner
// map; and whether a pin directory lies on a bpffs at all.
#include "dtls_cookie/pinned_layout.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "dtls_cookie/abi/abi.h"

namespace dtls_cookie {
namespace {

namespace fs = std::filesystem;

// Slot 0 may be replaced between reading its id and opening the map; the
// read is tried this many times before the race is reported.
constexpr int kInnerAttempts = 8;

std::string errno_text(int err) {
  if (err < 0) err = -err;
  std::string s = std::strerror(err);
  if (err == EPERM) s += " (run as root or with CAP_BPF and CAP_SYS_ADMIN)";
  return s;
}

std::string bytes(uint32_t n) { return std::to_string(n) + "-byte"; }

// "an array", "a hash", as libbpf spells the types.
std::string a_type(uint32_t type) {
  const char* s = libbpf_bpf_map_type_str(bpf_map_type(type));
  const std::string name = s ? s : "type-" + std::to_string(type);
  return (std::string_view("aeiou").find(name[0]) != std::string_view::npos
              ? "an "
              : "a ") +
         name;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

// "percpu_array map 'dc_counters' with 4-byte keys, 128-byte values and
// 1 entry", with the flags when the layout asks for some.
std::string describe(uint32_t type, std::string_view name, uint32_t key_size,
                     uint32_t value_size, uint32_t entries, uint32_t flags,
                     bool with_flags) {
  std::string s = a_type(type) + " map '" + std::string(name) + "' with " +
                  bytes(key_size) + " keys, " + bytes(value_size) +
                  " values and " + std::to_string(entries) +
                  (entries == 1 ? " entry" : " entries");
  if (with_flags) s += ", flags " + hex(flags);
  return s;
}

std::string describe(const bpf_map_info& info, bool with_flags) {
  return describe(info.type, info.name, info.key_size, info.value_size,
                  info.max_entries, info.map_flags, with_flags);
}

std::string describe(const map_layout& l) {
  const std::string name = (l.name_is_suffix ? "*" : "") + std::string(l.name);
  return describe(l.type, name, l.key_size, l.value_size, l.max_entries,
                  l.required_flags, l.required_flags != 0);
}

bpf_map_info map_info(int fd, const fs::path& path) {
  bpf_map_info info{};
  uint32_t len = sizeof info;
  const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  if (err)
    throw bpf_error("bpf_obj_get_info_by_fd on " + path.string() +
                        " failed: " + errno_text(err),
                    err < 0 ? -err : err);
  return info;
}

bool name_matches(std::string_view name, const map_layout& want) {
  return want.name_is_suffix ? name.ends_with(want.name) : name == want.name;
}

// The names the map's value type goes by in its BTF: a struct's or
// union's name, or the variables of a data section. Empty without BTF.
std::vector<std::string> btf_value_names(const bpf_map_info& info,
                                         const fs::path& path) {
  if (info.btf_id == 0 || info.btf_value_type_id == 0) return {};
  std::unique_ptr<btf, decltype(&btf__free)> b(
      btf__load_from_kernel_by_id(info.btf_id), &btf__free);
  if (!b) {
    const int err = errno;
    throw bpf_error("btf__load_from_kernel_by_id for " + path.string() +
                        " failed: " + errno_text(err),
                    err);
  }
  const btf_type* t = btf__type_by_id(b.get(), info.btf_value_type_id);
  if (t == nullptr) return {};
  std::vector<std::string> out;
  if (btf_is_datasec(t)) {
    const btf_var_secinfo* v = btf_var_secinfos(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++v) {
      const btf_type* var = btf__type_by_id(b.get(), v->type);
      if (var != nullptr)
        out.emplace_back(btf__name_by_offset(b.get(), var->name_off));
    }
  } else {
    out.emplace_back(btf__name_by_offset(b.get(), t->name_off));
  }
  return out;
}

// The map in slot 0 of a map-in-map, or an empty fd when the slot is
// empty.
unique_fd inner_map(int outer_fd, const fs::path& path) {
  const uint32_t slot = 0;
  for (int attempt = 0; attempt < kInnerAttempts; ++attempt) {
    uint32_t id = 0;
    const int err = bpf_map_lookup_elem(outer_fd, &slot, &id);
    if (err == -ENOENT) return {};
    if (err)
      throw bpf_error("bpf_map_lookup_elem on " + path.string() +
                          " failed: " + errno_text(err),
                      -err);
    unique_fd fd(bpf_map_get_fd_by_id(id));
    if (fd) return fd;
    if (errno != ENOENT)
      throw bpf_error("bpf_map_get_fd_by_id for the map in slot 0 of " +
                          path.string() + " failed: " + errno_text(errno),
                      errno);
  }
  throw error("the map in slot 0 of " + path.string() + " was replaced " +
              std::to_string(kInnerAttempts) + " times while it was checked");
}

// The part of the check that looks at one map; the caller says where it
// sits for the message.
void check_one(int fd, const fs::path& path, const map_layout& want,
               const std::string& where) {
  const std::string kind = bpf_object_kind(fd);
  if (kind != "map")
    throw foreign_pin_error(path, where + "a BPF " + kind + ", not a map");
  const bpf_map_info info = map_info(fd, path);
  const bool flags_ok =
      (info.map_flags & want.required_flags) == want.required_flags;
  if (!name_matches(info.name, want) || info.type != want.type ||
      info.key_size != want.key_size || info.value_size != want.value_size ||
      info.max_entries != want.max_entries || !flags_ok)
    throw foreign_pin_error(
        path, where + describe(info, want.required_flags != 0) + "; " +
                  std::string(want.role) + " is " + describe(want) +
                  (name_matches(info.name, want)
                       ? " (another version of dtls-cookie made it, or "
                         "another program)"
                       : ""));
  if (!want.btf_value.empty()) {
    const std::vector<std::string> names = btf_value_names(info, path);
    if (names.empty())
      throw foreign_pin_error(
          path, where + "map '" + std::string(info.name) + "' has " +
                    std::string(want.role) +
                    "'s layout but no BTF, so another program made it");
    bool found = false;
    for (const std::string& n : names) found = found || n == want.btf_value;
    if (!found)
      throw foreign_pin_error(path, where + "map '" + std::string(info.name) +
                                        "' holds BTF type '" + names.front() +
                                        "', not '" +
                                        std::string(want.btf_value) + "'");
  }
}

struct mount_entry {
  std::string point, type;
};

// mountinfo writes a space, tab, newline or backslash in a path as \ooo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += char(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The mount that holds p: the longest mount point that is a prefix of its
// canonical path (the last one listed when several are stacked there).
std::optional<mount_entry> mount_of(const fs::path& p) {
  std::ifstream in("/proc/self/mountinfo");
  std::optional<mount_entry> best;
  const std::string target = p.string();
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, field;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> field && field != "-") {
    }
    std::string type;
    fields >> type;
    point = unescape_mountinfo(point);
    const bool covers =
        target == point || (target.starts_with(point) &&
                            (point == "/" || (target.size() > point.size() &&
                                              target[point.size()] == '/')));
    if (covers && (!best || point.size() >= best->point.size()))
      best = mount_entry{point, type};
  }
  return best;
}

fs::path existing_ancestor(fs::path p) {
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_relative_path()) p = p.parent_path();
  return p;
}

}  // namespace

const map_layout kKeySetMapLayout = {
    .role = "the key map's inner map",
    .name = "dc_key_set",
    .type = BPF_MAP_TYPE_ARRAY,
    .key_size = sizeof(uint32_t),
    .value_size = sizeof(dc_key_set),
    .max_entries = 1,
    .required_flags = BPF_F_RDONLY_PROG,
    .btf_value = "",  // bpf_map_create() in publish_keys() gives it none
    .inner = nullptr,
};

const map_layout kKeysMapLayout = {
    .role = "the key map",
    .name = "dc_keys",
    .type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
    .key_size = sizeof(uint32_t),
    .value_size = sizeof(uint32_t),  // a map id (a map fd when written)
    .max_entries = 1,
    .required_flags = 0,
    .btf_value = "",  // libbpf creates maps of maps without BTF
    .inner = &kKeySetMapLayout,
};

const map_layout kCountersMapLayout = {
    .role = "the counters map",
    .name = "dc_counters",
    .type = BPF_MAP_TYPE_PERCPU_ARRAY,
    .key_size = sizeof(uint32_t),
    .value_size = sizeof(dc_counters),
    .max_entries = 1,
    .required_flags = 0,
    .btf_value = "dc_counters",
    .inner = nullptr,
};

// The whole .rodata section, of which dc_cfg is the only variable.
const map_layout kConfigMapLayout = {
    .role = "the config map",
    .name = ".rodata",
    .name_is_suffix = true,
    .type = BPF_MAP_TYPE_ARRAY,
    .key_size = sizeof(uint32_t),
    .value_size = sizeof(dc_config),
    .max_entries = 1,
    .required_flags = BPF_F_RDONLY_PROG,
    .btf_value = "dc_cfg",
    .inner = nullptr,
};

foreign_pin_error::foreign_pin_error(const fs::path& path,
                                     const std::string& why)
    : error(path.string() + " is not part of a dtls-cookie instance (" + why +
            "): remove it if nothing uses it, or choose another --pin-dir") {}

std::string bpf_object_kind(int fd) {
  char target[64] = "";
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  const std::string_view t(target, n > 0 ? size_t(n) : 0);
  if (t == "anon_inode:bpf-prog") return "program";
  if (t == "anon_inode:bpf-map") return "map";
  // The anonymous inode is bpf_link on older kernels, bpf-link on newer.
  if (t == "anon_inode:bpf-link" || t == "anon_inode:bpf_link") return "link";
  return "object (" + std::string(t) + ")";
}

void check_map_layout(int fd, const fs::path& path, const map_layout& want) {
  check_one(fd, path, want, "");
  if (want.inner == nullptr) return;
  const unique_fd inner = inner_map(fd, path);
  if (inner) check_one(inner.get(), path, *want.inner, "its slot 0 holds ");
  // XXX: an empty slot shows nothing of the inner map template, so a
  // foreign map-in-map of the outer layout with an empty slot passes as a
  // key map without keys; the agent also requires that the pinned program
  // uses it, a server reading keys does not.
}

unique_fd open_pinned_map(const fs::path& path, const map_layout& want,
                          bool read_only) {
  LIBBPF_OPTS(bpf_obj_get_opts, opts,
              .file_flags = read_only ? uint32_t(BPF_F_RDONLY) : 0u);
  unique_fd fd(bpf_obj_get_opts(path.c_str(), &opts));
  if (!fd) {
    const int err = errno;
    if (err == EINVAL && read_only) {
      // The kernel opens only maps read-only; open whatever it is to say
      // what it is instead.
      const unique_fd any(bpf_obj_get(path.c_str()));
      if (any)
        throw foreign_pin_error(
            path, "a BPF " + bpf_object_kind(any.get()) + ", not a map");
    }
    // Not a BPF object at all: a directory, or a file of another kind.
    if (err == EACCES || err == ENOTDIR || err == EINVAL)
      throw foreign_pin_error(
          path, std::string("bpf_obj_get: ") + std::strerror(err));
    throw bpf_error(
        "bpf_obj_get on " + path.string() + " failed: " + errno_text(err), err);
  }
  check_map_layout(fd.get(), path, want);
  return fd;
}

std::string missing_keys_reason(int keys_map_fd) {
  const unique_fd inner = inner_map(keys_map_fd, "the key map");
  if (!inner) return "its slot 0 is empty";
  dc_key_set set{};
  const uint32_t slot = 0;
  const int err = bpf_map_lookup_elem(inner.get(), &slot, &set);
  if (err)
    throw bpf_error("bpf_map_lookup_elem on the key map's inner map failed: " +
                        errno_text(err),
                    -err);
  if (set.current.flags & DC_KEY_VALID) return "";
  if (set.previous.flags & DC_KEY_VALID)
    return "the set in its slot 0 has no valid current key, only a previous "
           "one, generation " +
           std::to_string(set.previous.generation) +
           ", which is never used alone";
  return "the set in its slot 0 holds no valid key";
}

std::string describe_filesystem(const fs::path& p) {
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(existing_ancestor(p), ec);
  if (const auto m = mount_of(ec ? existing_ancestor(p) : base))
    return m->type + " mounted on " + m->point;
  struct statfs st {};
  if (::statfs(p.c_str(), &st) != 0) return "an unknown filesystem";
  return "a filesystem of type " + hex(uint32_t(st.f_type));
}

bool on_bpffs(const fs::path& p) {
  struct statfs st {};
  return ::statfs(existing_ancestor(p).c_str(), &st) == 0 &&
         st.f_type == BPF_FS_MAGIC;
}

void require_bpffs(const fs::path& dir) {
  if (on_bpffs(dir)) return;
  const fs::path base = existing_ancestor(dir);
  throw error("--pin-dir " + dir.string() + " is not on a bpffs (" +
              base.string() + " is on " + describe_filesystem(base) +
              "): BPF objects can be pinned only on a bpffs; mount one "
              "(mount -t bpf bpf /sys/fs/bpf) and use a directory under it, "
              "or mount one on a directory of your own");
}

}  // namespace dtls_cookie
