// The owner of the XDP responder: loads the BPF object embedded in the
// binary with its load-time configuration, publishes key sets, reads the
// counters, attaches to interfaces and runs frames through the program.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/keys.hpp"

namespace dtls_cookie {

// A failed libbpf or bpf() call: the message names the call and the
// object; code() is the errno, for a caller that turns a known one (EBUSY,
// EOPNOTSUPP) into advice.
class bpf_error : public error {
 public:
  bpf_error(const std::string& what, int code) : error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A file descriptor with exactly one owner, closed on destruction.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept;
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  int get() const noexcept { return fd_; }
  int release() noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// What an operator chooses; to_config() turns it into the program's
// load-time configuration.
struct responder_options {
  std::vector<uint16_t> ports;  // at least one, none of them 0
  dc_policy established = DC_POLICY_PASS;
  dc_policy fragmented = DC_POLICY_PASS;
  dc_policy dtls13 = DC_POLICY_PASS;  // PASS, DROP or ANSWER
  dc_policy malformed = DC_POLICY_DROP;
  dc_policy no_keys = DC_POLICY_PASS;
  uint16_t server_version = DC_VERSION_DTLS10;  // or DC_VERSION_DTLS12
  // The host's own addresses (IPv4 as ::ffff:a.b.c.d), never answered;
  // at most DC_MAX_LOCAL_ADDRS.
  std::vector<std::array<uint8_t, 16>> local_addrs;
  // The reply rate limit: HelloVerifyRequests per second to one
  // destination prefix (0 turns the limit off; at most DC_REPLY_RATE_MAX),
  // the burst a prefix may take at once (1 to DC_REPLY_BURST_MAX), the
  // prefix lengths that group destinations (IPv4 1-32, IPv6 1-128) and the
  // buckets the kernel keeps (1 to DC_REPLY_TABLE_MAX). Over the limit a
  // ClientHello is dropped and counted as DC_CNT_RATE_LIMITED.
  uint32_t reply_rate = DC_REPLY_RATE_DEFAULT;
  uint32_t reply_burst = DC_REPLY_BURST_DEFAULT;
  unsigned reply_prefix4 = DC_REPLY_PREFIX4_DEFAULT;
  unsigned reply_prefix6 = DC_REPLY_PREFIX6_DEFAULT;
  uint32_t reply_table_size = DC_REPLY_TABLE_DEFAULT;
};

// Validates the options; throws dtls_cookie::error naming the bad field.
dc_config to_config(const responder_options& options);

using counters = std::array<uint64_t, DC_CNT_MAX>;

struct run_result {
  uint32_t verdict = 0;        // XDP_PASS, XDP_DROP, XDP_TX, XDP_ABORTED
  std::vector<uint8_t> frame;  // the frame as the program left it
  uint32_t duration_ns = 0;    // the kernel's figure for this one run
};

// The operations below act on file descriptors, so a process that did not
// load the program (the agent, with pinned maps) can use them too. Each
// throws dtls_cookie::bpf_error naming the libbpf call, the object and the
// errno text.

// Makes keys the published set: a new inner map is written, frozen and
// swapped into slot 0 of the outer map, so the program sees the old set or
// the new one, never a mix. An empty set empties the slot (no keys).
void publish_keys(int outer_map_fd, const key_set& keys);
// The published set; empty when the slot is empty.
key_set read_keys(int outer_map_fd);
// Each counter summed over the CPUs.
counters read_counters(int counters_map_fd);
// One run of the program over frame through BPF_PROG_TEST_RUN (repeat 1,
// so the frame the program rewrote is the one returned).
run_result test_run(int prog_fd, std::span<const uint8_t> frame);

enum class attach_mode {
  native,   // in the driver (XDP_FLAGS_DRV_MODE)
  generic,  // on the skb path, for any device (XDP_FLAGS_SKB_MODE)
};

// The program's load-time configuration as the kernel holds it (the
// frozen read-only data map of a loaded responder).
dc_config read_config(int config_map_fd);

// Pins fd at path on a bpffs, and opens a pinned object again.
void pin_object(int fd, const std::string& path);
unique_fd open_pinned(const std::string& path);

// What the kernel reports for an interface's XDP hook.
struct xdp_state {
  uint32_t prog_id = 0;             // 0 when no program is attached
  std::optional<attach_mode> mode;  // empty for offload or several modes
};
xdp_state query_xdp(int ifindex);

// Attaches prog_fd to ifindex through a new, unpinned BPF link. The
// kernel refuses (EBUSY or EEXIST) when the hook already holds a program,
// and EOPNOTSUPP means the driver has no native XDP.
unique_fd create_xdp_link(int prog_fd, int ifindex, attach_mode mode);
// Removes a program attached through netlink (ip link set ... xdp); a
// program held by a BPF link cannot be removed this way (EBUSY).
void detach_netlink_xdp(int ifindex, attach_mode mode);

// The maps of a loaded responder by fd: a second program loaded with them
// shares its configuration, keys, counters and reply buckets.
struct responder_maps {
  int keys = -1;
  int counters = -1;
  int config = -1;
  int reply_limit = -1;
};

// Loads the embedded program once more, as a freplace program
// (BPF_PROG_TYPE_EXT) over the function dc_responder of target_prog_fd (a
// loaded responder), with maps instead of new ones, and returns its fd. An
// extension is what libxdp's dispatcher links in place of one of its
// slots; the kernel checks it against each new target as it is linked.
// Throws bpf_error: EPERM means the kernel loads no freplace programs.
unique_fd load_extension(int target_prog_fd, const responder_maps& maps);

// The program attached to one interface through a BPF link; detached on
// destruction.
class attachment {
 public:
  attachment() noexcept = default;
  int ifindex() const noexcept { return ifindex_; }
  int link_fd() const noexcept { return link_.get(); }

 private:
  friend class responder;
  attachment(unique_fd link, int ifindex) noexcept
      : link_(std::move(link)), ifindex_(ifindex) {}
  unique_fd link_;
  int ifindex_ = 0;
};

// The loaded program and its maps. Move-only; unloads on destruction
// (attachments hold their own reference and keep the program running).
class responder {
 public:
  // Opens the embedded object, writes cfg into its read-only data and
  // loads it; throws dtls_cookie::error (the verifier's reasons go to
  // libbpf's log, stderr by default).
  static responder load(const dc_config& cfg);

  responder(responder&&) noexcept;
  responder& operator=(responder&&) noexcept;
  ~responder();

  int prog_fd() const noexcept;
  int counters_fd() const noexcept;
  int keys_fd() const noexcept;
  // The read-only data map that holds the dc_config the program runs with.
  int config_fd() const noexcept;
  // The reply rate limit's buckets (LRU hash, struct dc_reply_key to
  // struct dc_reply_bucket); one unused entry when the limit is off.
  int reply_limit_fd() const noexcept;

  void publish_keys(const key_set& keys) const;
  key_set read_keys() const;
  counters read_counters() const;
  run_result test_run(std::span<const uint8_t> frame) const;
  attachment attach(int ifindex, attach_mode mode) const;

 private:
  struct skeleton;
  explicit responder(std::unique_ptr<skeleton> skel) noexcept;
  std::unique_ptr<skeleton> skel_;
};

}  // namespace dtls_cookie
