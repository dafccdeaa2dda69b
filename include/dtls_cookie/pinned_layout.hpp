// What the objects the agent pins must look like, taken from the shared ABI
// header, and the one check that every reader of a pin directory (agent,
// servers, key source) applies to a pinned map before it uses it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/responder.hpp"

namespace dtls_cookie {

// The layout of one of the responder's maps.
struct map_layout {
  std::string_view role;  // for messages, e.g. "the key map"
  // The kernel's name of the map (it keeps 15 characters). libbpf names a
  // data section map after the object, so only its suffix is fixed.
  std::string_view name;
  bool name_is_suffix = false;
  uint32_t type = 0;  // enum bpf_map_type
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  // Flags the map must carry (others may be set too).
  uint32_t required_flags = 0;
  // The value's BTF: a struct of this name, or a data section holding a
  // variable of this name. Empty for maps libbpf creates without BTF.
  std::string_view btf_value;
  // A map-in-map: the layout of the map in slot 0, checked when the slot
  // holds one.
  const map_layout* inner = nullptr;
};

// The set the key map holds in slot 0 (struct dc_key_set); publish_keys()
// creates it with exactly this layout.
extern const map_layout kKeySetMapLayout;
// The outer key map, an array of one inner map (empty slot: no keys).
extern const map_layout kKeysMapLayout;
// The per-CPU counters (struct dc_counters).
extern const map_layout kCountersMapLayout;
// The program's read-only data (struct dc_config).
extern const map_layout kConfigMapLayout;

// Something other than the responder's object is pinned where one of its
// objects belongs. The message names the path, what is there and what to
// do; nothing at the path is changed.
class foreign_pin_error : public error {
 public:
  foreign_pin_error(const std::filesystem::path& path, const std::string& why);
};

// "map", "program" or "link" for a BPF fd, from its anonymous inode
// (bpf_obj_get opens any of them, and bpf_obj_get_info_by_fd fills any
// info struct from any of them).
std::string bpf_object_kind(int fd);

// Checks that fd, opened from path, is a map with the given layout, and
// for a map-in-map also the map in its slot 0 when there is one. Throws
// foreign_pin_error when it is not, dtls_cookie::error when the kernel
// cannot be asked (the BTF and the inner map need CAP_SYS_ADMIN).
void check_map_layout(int fd, const std::filesystem::path& path,
                      const map_layout& want);

// Opens the map pinned at path, read-only if asked, and checks its layout.
// Throws dtls_cookie::bpf_error (code() the errno) when nothing can be
// opened there, foreign_pin_error when something else is pinned there.
unique_fd open_pinned_map(const std::filesystem::path& path,
                          const map_layout& want, bool read_only);

// Why the key map yields no key set, for messages, e.g. "its slot 0 is
// empty"; empty when it holds a set with a valid current key.
std::string missing_keys_reason(int keys_map_fd);

// The filesystem that holds p (or its nearest existing ancestor), as
// "tmpfs mounted on /tmp", for messages.
std::string describe_filesystem(const std::filesystem::path& p);

// True when p (or its nearest existing ancestor) lies on a bpffs.
bool on_bpffs(const std::filesystem::path& p);

// Throws dtls_cookie::error when dir (or its nearest existing ancestor)
// is not on a bpffs, naming the filesystem it is on and how to mount one.
void require_bpffs(const std::filesystem::path& dir);

}  // namespace dtls_cookie
