// Loading the embedded XDP responder, publishing key sets through
// frozen inner maps, reading per-CPU counters and running frames through
// BPF_PROG_TEST_RUN. Every libbpf failure becomes one dtls_cookie::error.
#include "dtls_cookie/responder.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_layout.hpp"
#include "responder.skel.h"

namespace dtls_cookie {
namespace {

constexpr uint32_t kKeySlot = 0;
// A new inner map can replace the one read_keys() just looked up; the
// lookup is retried this many times before the race is reported.
constexpr int kReadKeysAttempts = 8;
// The skeleton calls its program and maps by these names.
constexpr const char* kProgName = "dc_responder";
constexpr const char* kKeysMapName = "dc_keys";
constexpr const char* kCountersMapName = "dc_counters";
constexpr const char* kReplyLimitMapName = "dc_reply_limit";

// libbpf returns -errno (strict mode); some calls only set errno.
[[noreturn]] void fail(std::string_view call, std::string_view object,
                       int err) {
  if (err < 0) err = -err;
  std::string what = std::string(call) + " on " + std::string(object) +
                     " failed: " + std::strerror(err);
  // Without the capabilities every bpf() command fails this way, and the
  // errno text alone does not say what is missing.
  if (err == EPERM) what += " (run as root or with CAP_BPF+CAP_NET_ADMIN)";
  throw bpf_error(what, err);
}

uint32_t xdp_flags(attach_mode mode) {
  return mode == attach_mode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

std::string ifindex_name(int ifindex) {
  return "ifindex " + std::to_string(ifindex);
}

void check_policy(const char* field, dc_policy p, bool answer_allowed) {
  if (p == DC_POLICY_PASS || p == DC_POLICY_DROP) return;
  if (p == DC_POLICY_ANSWER && answer_allowed) return;
  throw error(std::string("policy for ") + field + " is " +
              std::to_string(int(p)) + "; it must be PASS or DROP" +
              (answer_allowed ? " or ANSWER" : ""));
}

// A mask of `bits` leading one bits over 16 bytes, which the program ANDs
// onto an address.
void prefix_mask(uint8_t (&mask)[16], unsigned bits) {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned left = bits > 8 * i ? bits - 8 * i : 0;
    mask[i] = left >= 8 ? 0xff : uint8_t(0xff00 >> left);
  }
}

void check_range(const char* field, uint64_t value, uint64_t lo, uint64_t hi) {
  if (value < lo || value > hi)
    throw error(std::string(field) + " is " + std::to_string(value) +
                "; it must be " + std::to_string(lo) + " to " +
                std::to_string(hi));
}

// Every setting is checked even with the limit off, so that a typo is
// reported rather than ignored; the program gets them only when it is on.
dc_reply_limit to_reply_limit(const responder_options& o) {
  check_range("reply_rate", o.reply_rate, 0, DC_REPLY_RATE_MAX);
  check_range("reply_burst", o.reply_burst, 1, DC_REPLY_BURST_MAX);
  check_range("reply_prefix4", o.reply_prefix4, 1, 32);
  check_range("reply_prefix6", o.reply_prefix6, 1, 128);
  check_range("reply_table_size", o.reply_table_size, 1, DC_REPLY_TABLE_MAX);
  dc_reply_limit l{};
  if (o.reply_rate == 0) return l;
  l.rate = o.reply_rate;
  l.burst = o.reply_burst;
  l.table_size = o.reply_table_size;
  l.prefix4 = uint8_t(o.reply_prefix4);
  l.prefix6 = uint8_t(o.reply_prefix6);
  // Rounded up: from fill_ns on, elapsed * rate reaches the cap.
  const uint64_t cap = uint64_t(l.burst) * DC_REPLY_TOKEN;
  l.fill_ns = (cap + l.rate - 1) / l.rate;
  prefix_mask(l.mask4, 96 + l.prefix4);
  prefix_mask(l.mask6, l.prefix6);
  return l;
}

}  // namespace

unique_fd::unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0) ::close(fd_);
}

int unique_fd::release() noexcept { return std::exchange(fd_, -1); }

dc_config to_config(const responder_options& o) {
  dc_config cfg{};
  if (o.ports.empty()) throw error("no UDP port to answer on");
  for (uint16_t port : o.ports) {
    if (port == 0) throw error("UDP port 0 cannot be answered on");
    cfg.port_bitmap[port >> 6] |= uint64_t(1) << (port & 63);
  }
  check_policy("established", o.established, false);
  check_policy("fragmented", o.fragmented, false);
  check_policy("dtls13", o.dtls13, true);
  check_policy("malformed", o.malformed, false);
  check_policy("no_keys", o.no_keys, false);
  cfg.policy_established = uint8_t(o.established);
  cfg.policy_fragmented = uint8_t(o.fragmented);
  cfg.policy_dtls13 = uint8_t(o.dtls13);
  cfg.policy_malformed = uint8_t(o.malformed);
  cfg.policy_no_keys = uint8_t(o.no_keys);
  if (o.server_version != DC_VERSION_DTLS10 &&
      o.server_version != DC_VERSION_DTLS12)
    throw error("server_version must be DTLS 1.0 (0xfeff) or 1.2 (0xfefd)");
  cfg.server_version = o.server_version;
  if (o.local_addrs.size() > DC_MAX_LOCAL_ADDRS)
    throw error(std::to_string(o.local_addrs.size()) +
                " local addresses; at most " +
                std::to_string(DC_MAX_LOCAL_ADDRS) + " are supported");
  for (size_t i = 0; i < o.local_addrs.size(); ++i)
    std::memcpy(cfg.local_addrs[i], o.local_addrs[i].data(), 16);
  cfg.local_addr_count = uint32_t(o.local_addrs.size());
  cfg.reply_limit = to_reply_limit(o);
  return cfg;
}

void publish_keys(int outer_map_fd, const key_set& keys) {
  if (keys.empty()) {
    const int err = bpf_map_delete_elem(outer_map_fd, &kKeySlot);
    if (err && err != -ENOENT) fail("bpf_map_delete_elem", kKeysMapName, err);
    return;
  }
  // The same type, sizes and flags as the program's inner map template:
  // the kernel refuses any other map in the outer slot.
  const map_layout& l = kKeySetMapLayout;
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = l.required_flags);
  unique_fd inner(bpf_map_create(bpf_map_type(l.type), l.name.data(),
                                 l.key_size, l.value_size, l.max_entries,
                                 &opts));
  if (!inner) fail("bpf_map_create", "a dc_keys inner map", inner.get());
  const dc_key_set abi = keys.to_abi();
  int err = bpf_map_update_elem(inner.get(), &kKeySlot, &abi, BPF_ANY);
  if (err) fail("bpf_map_update_elem", "a new dc_keys inner map", err);
  err = bpf_map_freeze(inner.get());
  if (err) fail("bpf_map_freeze", "a new dc_keys inner map", err);
  const int inner_fd = inner.get();
  err = bpf_map_update_elem(outer_map_fd, &kKeySlot, &inner_fd, BPF_ANY);
  if (err) fail("bpf_map_update_elem", kKeysMapName, err);
  // The outer map holds the inner one now; closing our fd is what lets
  // the kernel free it once it is replaced.
}

key_set read_keys(int outer_map_fd) {
  for (int attempt = 0; attempt < kReadKeysAttempts; ++attempt) {
    uint32_t inner_id = 0;
    int err = bpf_map_lookup_elem(outer_map_fd, &kKeySlot, &inner_id);
    if (err == -ENOENT) return {};
    if (err) fail("bpf_map_lookup_elem", kKeysMapName, err);
    // XXX: the kernel opens a map by id only for CAP_SYS_ADMIN, so a server
    // reading the live keys needs it on top of CAP_BPF.
    unique_fd inner(bpf_map_get_fd_by_id(inner_id));
    if (!inner) {
      if (errno == ENOENT) continue;  // replaced and freed meanwhile
      fail("bpf_map_get_fd_by_id", "the dc_keys inner map", errno);
    }
    dc_key_set abi{};
    err = bpf_map_lookup_elem(inner.get(), &kKeySlot, &abi);
    if (err) fail("bpf_map_lookup_elem", "the dc_keys inner map", err);
    return key_set::from_abi(abi);
  }
  throw error("read_keys: the dc_keys inner map was replaced " +
              std::to_string(kReadKeysAttempts) + " times while reading it");
}

counters read_counters(int counters_map_fd) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) fail("libbpf_num_possible_cpus", "this host", ncpus);
  // One entry: every counter of one CPU, for each possible CPU.
  static_assert(sizeof(dc_counters) % 8 == 0, "per-CPU values are 8-aligned");
  std::vector<dc_counters> per_cpu(static_cast<size_t>(ncpus));
  const uint32_t key = 0;
  const int err = bpf_map_lookup_elem(counters_map_fd, &key, per_cpu.data());
  if (err) fail("bpf_map_lookup_elem", kCountersMapName, err);
  counters out{};
  for (const dc_counters& cpu : per_cpu)
    for (size_t i = 0; i < out.size(); ++i) out[i] += cpu.c[i];
  return out;
}

run_result test_run(int prog_fd, std::span<const uint8_t> frame) {
  // The program only ever shrinks a frame; the margin is for safety.
  std::vector<uint8_t> out(frame.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_out = out.data(), .data_size_in = uint32_t(frame.size()),
              .data_size_out = uint32_t(out.size()), .repeat = 1);
  const int err = bpf_prog_test_run_opts(prog_fd, &opts);
  if (err) fail("bpf_prog_test_run_opts", kProgName, err);
  out.resize(opts.data_size_out);
  return {opts.retval, std::move(out), opts.duration};
}

dc_config read_config(int config_map_fd) {
  struct bpf_map_info info {};
  uint32_t len = sizeof info;
  int err = bpf_obj_get_info_by_fd(config_map_fd, &info, &len);
  if (err) fail("bpf_obj_get_info_by_fd", "the config map", err);
  // The map holds the whole .rodata section; dc_cfg is its only variable.
  if (info.value_size != sizeof(dc_config))
    throw error("the config map " + std::string(info.name) + " holds " +
                std::to_string(info.value_size) + " bytes, not a dc_config (" +
                std::to_string(sizeof(dc_config)) + ")");
  dc_config cfg{};
  const uint32_t zero = 0;
  err = bpf_map_lookup_elem(config_map_fd, &zero, &cfg);
  if (err) fail("bpf_map_lookup_elem", "the config map", err);
  return cfg;
}

void pin_object(int fd, const std::string& path) {
  const int err = bpf_obj_pin(fd, path.c_str());
  if (err) fail("bpf_obj_pin", path, err);
}

unique_fd open_pinned(const std::string& path) {
  unique_fd fd(bpf_obj_get(path.c_str()));
  if (!fd) fail("bpf_obj_get", path, fd.get());
  return fd;
}

xdp_state query_xdp(int ifindex) {
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  const int err = bpf_xdp_query(ifindex, 0, &opts);
  if (err) fail("bpf_xdp_query", ifindex_name(ifindex), err);
  xdp_state state;
  state.prog_id = opts.prog_id;
  if (opts.attach_mode == XDP_ATTACHED_DRV) state.mode = attach_mode::native;
  if (opts.attach_mode == XDP_ATTACHED_SKB) state.mode = attach_mode::generic;
  if (opts.attach_mode == XDP_ATTACHED_MULTI)
    state.prog_id = opts.drv_prog_id ? opts.drv_prog_id : opts.skb_prog_id;
  return state;
}

unique_fd create_xdp_link(int prog_fd, int ifindex, attach_mode mode) {
  LIBBPF_OPTS(bpf_link_create_opts, opts);
  opts.flags = xdp_flags(mode);
  unique_fd link(bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts));
  if (!link)
    fail("bpf_link_create(BPF_XDP)",
         std::string(kProgName) + " on " + ifindex_name(ifindex), link.get());
  return link;
}

void detach_netlink_xdp(int ifindex, attach_mode mode) {
  const int err = bpf_xdp_detach(ifindex, xdp_flags(mode), nullptr);
  if (err) fail("bpf_xdp_detach", ifindex_name(ifindex), err);
}

namespace {

// Destroys a skeleton that load_extension() opened.
struct skeleton_owner {
  explicit skeleton_owner(::responder* s) noexcept : skel(s) {}
  skeleton_owner(const skeleton_owner&) = delete;
  skeleton_owner& operator=(const skeleton_owner&) = delete;
  ~skeleton_owner() { ::responder__destroy(skel); }
  ::responder* skel;
};

}  // namespace

struct responder::skeleton {
  explicit skeleton(::responder* s) noexcept : skel(s) {}
  skeleton(const skeleton&) = delete;
  skeleton& operator=(const skeleton&) = delete;
  ~skeleton() { ::responder__destroy(skel); }
  ::responder* skel;
};

responder::responder(std::unique_ptr<skeleton> skel) noexcept
    : skel_(std::move(skel)) {}
responder::responder(responder&&) noexcept = default;
responder& responder::operator=(responder&&) noexcept = default;
responder::~responder() = default;

responder responder::load(const dc_config& cfg) {
  ::responder* raw = ::responder__open();
  if (raw == nullptr) fail("bpf_object__open_skeleton", "responder", errno);
  auto skel = std::make_unique<skeleton>(raw);
  skel->skel->rodata->dc_cfg = cfg;
  // With the limit off the program never touches its map: one entry.
  const uint32_t buckets = std::max<uint32_t>(1, cfg.reply_limit.table_size);
  int err = bpf_map__set_max_entries(skel->skel->maps.dc_reply_limit, buckets);
  if (err) fail("bpf_map__set_max_entries", kReplyLimitMapName, err);
  err = ::responder__load(skel->skel);
  if (err) fail("bpf_object__load_skeleton", "responder", err);
  return responder(std::move(skel));
}

unique_fd load_extension(int target_prog_fd, const responder_maps& maps) {
  ::responder* raw = ::responder__open();
  if (raw == nullptr) fail("bpf_object__open_skeleton", "responder", errno);
  const skeleton_owner skel(raw);
  // Reused maps are neither created nor written: the frozen configuration
  // of the target is the one the verifier folds into this program too.
  for (auto [map, fd] :
       {std::pair{raw->maps.dc_keys, maps.keys},
        std::pair{raw->maps.dc_counters, maps.counters},
        std::pair{raw->maps.rodata, maps.config},
        std::pair{raw->maps.dc_reply_limit, maps.reply_limit}}) {
    const int err = bpf_map__reuse_fd(map, fd);
    if (err) fail("bpf_map__reuse_fd", bpf_map__name(map), err);
  }
  bpf_program* prog = raw->progs.dc_responder;
  int err = bpf_program__set_type(prog, BPF_PROG_TYPE_EXT);
  if (!err)
    err = bpf_program__set_expected_attach_type(prog, bpf_attach_type(0));
  if (!err)
    err = bpf_program__set_attach_target(prog, target_prog_fd, kProgName);
  if (err) fail("bpf_program__set_attach_target", kProgName, err);
  // Not the skeleton's load: that would also map the reused maps into
  // this process, which nothing here reads.
  err = bpf_object__load(raw->obj);
  if (err)
    fail("bpf_object__load", std::string(kProgName) + " as a freplace program",
         err);
  unique_fd fd(fcntl(bpf_program__fd(prog), F_DUPFD_CLOEXEC, 3));
  if (!fd) fail("fcntl(F_DUPFD_CLOEXEC)", kProgName, errno);
  return fd;
}

int responder::prog_fd() const noexcept {
  return bpf_program__fd(skel_->skel->progs.dc_responder);
}

int responder::counters_fd() const noexcept {
  return bpf_map__fd(skel_->skel->maps.dc_counters);
}

int responder::keys_fd() const noexcept {
  return bpf_map__fd(skel_->skel->maps.dc_keys);
}

int responder::config_fd() const noexcept {
  return bpf_map__fd(skel_->skel->maps.rodata);
}

int responder::reply_limit_fd() const noexcept {
  return bpf_map__fd(skel_->skel->maps.dc_reply_limit);
}

void responder::publish_keys(const key_set& keys) const {
  dtls_cookie::publish_keys(keys_fd(), keys);
}

key_set responder::read_keys() const {
  return dtls_cookie::read_keys(keys_fd());
}

counters responder::read_counters() const {
  return dtls_cookie::read_counters(counters_fd());
}

run_result responder::test_run(std::span<const uint8_t> frame) const {
  return dtls_cookie::test_run(prog_fd(), frame);
}

attachment responder::attach(int ifindex, attach_mode mode) const {
  return attachment(create_xdp_link(prog_fd(), ifindex, mode), ifindex);
}

}  // namespace dtls_cookie
