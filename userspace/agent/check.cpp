// dtls-cookie check: the pinned program against the userspace model on
// generated frames, with the live configuration and keys, so an operator
// (and run, before it reports ready) learns that the kernel in front of
// the server answers exactly as the library that verifies cookies expects.
#include "check.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <string_view>

#include "commands.hpp"
#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_layout.hpp"

namespace dtls_cookie::agent {
namespace {

namespace pk = packet;

// A rotation during a check is rare; two repeats make a false alarm
// practically impossible without hiding a real disagreement.
constexpr int kCheckAttempts = 3;

// Kinds of frame; "needs" says which keys a kind requires.
enum class needs { nothing, current, previous };
struct kind_info {
  const char* name;
  needs keys;
};
constexpr kind_info kKinds[] = {
    {"no_cookie", needs::nothing},
    {"valid_current", needs::current},
    {"valid_previous", needs::previous},
    {"bad_cookie_tag", needs::current},
    {"bad_cookie_generation", needs::nothing},
    {"bad_cookie_length", needs::nothing},
    {"dtls13", needs::nothing},
    {"established", needs::nothing},
    {"fragmented", needs::nothing},
    {"malformed_truncated", needs::nothing},
    {"malformed_garbage", needs::nothing},
    {"ipv4_fragment", needs::nothing},
    {"other_port", needs::nothing},
    {"bad_source", needs::nothing},
    {"not_ip", needs::nothing},
};

class generator {
 public:
  generator(const dc_config& cfg, const key_set& keys, uint32_t seed)
      : cfg_(cfg), keys_(keys), rng_(seed) {
    for (uint32_t p = 1; p <= 65535; ++p)
      if ((cfg.port_bitmap[p >> 6] >> (p & 63)) & 1)
        ports_.push_back(uint16_t(p));
  }

  check_frame make(const char* kind) {
    const std::string k = kind;
    pk::udp_frame f = base_frame();
    pk::client_hello ch = base_hello();
    std::optional<pk::bytes> payload;

    if (k == "valid_current") {
      ch.cookie = cookie_bytes(*keys_.current(), f);
    } else if (k == "valid_previous") {
      ch.cookie = cookie_bytes(*keys_.previous(), f);
    } else if (k == "bad_cookie_tag") {
      ch.cookie = cookie_bytes(*keys_.current(), f);
      ch.cookie[4 + below(DC_TAG_LEN)] ^= uint8_t(1u << below(8));
    } else if (k == "bad_cookie_generation") {
      key stale;
      stale.generation = unknown_generation();
      for (auto& b : stale.bytes) b = uint8_t(rng_());
      ch.cookie = cookie_bytes(stale, f);
    } else if (k == "bad_cookie_length") {
      size_t len = 1 + below(32);
      if (len == DC_COOKIE_LEN) ++len;
      ch.cookie = random_bytes(len);
    } else if (k == "dtls13") {
      ch.extensions.emplace();
      ch.extensions->push_back(pk::supported_versions({0xfefc, 0xfefd}));
    } else if (k == "established") {
      payload = record(uint8_t(DC_CONTENT_APPLICATION_DATA + below(2)),
                       1 + below(3), random_bytes(16 + below(64)));
    } else if (k == "fragmented") {
      const size_t body =
          pk::build(ch).size() - DC_RECORD_HEADER_LEN - DC_HANDSHAKE_HEADER_LEN;
      ch.fragment_offset = 0;
      ch.fragment_length = uint32_t(1 + below(body - 1));
    } else if (k == "malformed_truncated") {
      pk::bytes b = pk::build(ch);
      b.resize(DC_RECORD_HEADER_LEN + below(b.size() - DC_RECORD_HEADER_LEN));
      payload = std::move(b);
    } else if (k == "malformed_garbage") {
      payload = random_bytes(1 + below(120));
      (*payload)[0] = DC_CONTENT_HANDSHAKE;
    } else if (k == "ipv4_fragment") {
      f.src_ip = random_v4();
      f.dst_ip = pk::ip_addr::parse("198.51.100.1");
      f.frag_off = below(2) ? 0x2000 : uint16_t(0x2000 | (1 + below(100)));
    } else if (k == "other_port") {
      f.dst_port = other_port();
    } else if (k == "bad_source") {
      make_bad_source(f);
    }

    f.payload = payload ? *payload : pk::build(ch);
    pk::bytes frame = pk::build(f);
    if (k == "not_ip") {
      // An ARP-like ethertype right after any VLAN tags.
      const size_t off = 12 + 4 * f.vlans.size();
      frame[off] = 0x08;
      frame[off + 1] = 0x06;
    }
    return {k, std::move(frame)};
  }

 private:
  size_t below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  pk::bytes random_bytes(size_t n) {
    pk::bytes b(n);
    for (auto& x : b) x = uint8_t(rng_());
    return b;
  }

  bool is_local(const pk::ip_addr& a) const {
    for (uint32_t i = 0; i < cfg_.local_addr_count && i < DC_MAX_LOCAL_ADDRS;
         ++i)
      if (std::memcmp(cfg_.local_addrs[i], a.mapped.data(), 16) == 0)
        return true;
    return false;
  }

  // A unicast public-looking IPv4 address that is none of the host's.
  pk::ip_addr random_v4() {
    for (;;) {
      uint8_t a[4];
      a[0] = uint8_t(1 + below(223));
      if (a[0] == 127) continue;
      for (int i = 1; i < 4; ++i) a[i] = uint8_t(rng_());
      const auto ip = pk::ip_addr::v4(a);
      if (!is_local(ip)) return ip;
    }
  }

  pk::ip_addr random_v6() {
    for (;;) {
      uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
      for (int i = 4; i < 16; ++i) a[i] = uint8_t(rng_());
      const auto ip = pk::ip_addr::v6_bytes(a);
      if (!is_local(ip)) return ip;
    }
  }

  pk::udp_frame base_frame() {
    pk::udp_frame f;
    const bool v6 = below(3) == 0;
    f.src_ip = v6 ? random_v6() : random_v4();
    f.dst_ip = v6 ? random_v6() : random_v4();
    f.src_mac = {0x02,
                 uint8_t(rng_()),
                 uint8_t(rng_()),
                 uint8_t(rng_()),
                 uint8_t(rng_()),
                 uint8_t(rng_())};
    const size_t tags = below(5) == 0 ? 1 + below(2) : 0;
    for (size_t i = 0; i < tags; ++i)
      f.vlans.push_back({uint16_t(i == 0 && tags == 2 ? 0x88a8 : 0x8100),
                         uint16_t(below(4096))});
    if (!v6 && below(8) == 0) f.ipv4_options = pk::bytes(4 * (1 + below(3)), 1);
    f.src_port = uint16_t(1 + below(65535));
    f.dst_port = ports_.empty() ? uint16_t(4433) : ports_[below(ports_.size())];
    f.tos = uint8_t(below(4) == 0 ? rng_() : 0);
    f.id = uint16_t(rng_());
    f.ttl = uint8_t(1 + below(255));
    if (below(10) == 0) f.trailer = below(20);
    return f;
  }

  pk::client_hello base_hello() {
    pk::client_hello ch;
    const bool dtls10 = below(4) == 0;
    ch.record_version = dtls10 ? DC_VERSION_DTLS10 : DC_VERSION_DTLS12;
    ch.client_version = ch.record_version;
    ch.record_seq = (uint64_t(rng_()) << 16 ^ rng_()) & ((1ull << 48) - 1);
    ch.message_seq = uint16_t(below(3));
    for (auto& b : ch.random) b = uint8_t(rng_());
    ch.session_id = random_bytes(below(33));
    ch.cipher_suites.clear();
    for (size_t i = 0, n = 1 + below(12); i < n; ++i)
      ch.cipher_suites.push_back(uint16_t(rng_()));
    if (below(3) != 0) {
      ch.extensions.emplace();
      for (size_t i = 0, n = below(8); i < n; ++i) {
        // Types clear of supported_versions, which only dtls13 frames use.
        const uint16_t type = uint16_t(0x0100 + below(0xfe00));
        ch.extensions->push_back({type, random_bytes(below(24))});
      }
    }
    return ch;
  }

  static pk::bytes cookie_bytes(const key& k, const pk::udp_frame& f) {
    const dc_cookie c = make_cookie(
        k, client_identity_ipv6(f.src_ip.mapped.data(), htons(f.src_port)));
    const auto* p = reinterpret_cast<const uint8_t*>(&c);
    return {p, p + sizeof c};
  }

  uint32_t unknown_generation() {
    for (;;) {
      const auto g = uint32_t(rng_());
      if (keys_.find(g) == nullptr) return g;
    }
  }

  uint16_t other_port() {
    for (int i = 0; i < 1000; ++i) {
      const auto p = uint16_t(1 + below(65535));
      if (std::find(ports_.begin(), ports_.end(), p) == ports_.end()) return p;
    }
    return ports_.empty() ? 1 : ports_.front();
  }

  pk::bytes record(uint8_t type, uint16_t epoch, const pk::bytes& data) {
    pk::bytes r = {type, 0xfe, 0xfd, uint8_t(epoch >> 8), uint8_t(epoch)};
    for (int i = 0; i < 6; ++i) r.push_back(uint8_t(rng_()));
    r.push_back(uint8_t(data.size() >> 8));
    r.push_back(uint8_t(data.size()));
    r.insert(r.end(), data.begin(), data.end());
    return r;
  }

  void make_bad_source(pk::udp_frame& f) {
    switch (below(6)) {
      case 0:
        f.src_mac[0] |= 1;  // multicast or broadcast sender
        break;
      case 1:
        f.src_port = 0;
        break;
      case 2: {
        const uint8_t loopback[4] = {127, 0, 0, uint8_t(1 + below(254))};
        f.src_ip = pk::ip_addr::v4(loopback);
        f.dst_ip = random_v4();
        break;
      }
      case 3: {
        const uint8_t mcast[4] = {uint8_t(224 + below(32)), 0, 0, 1};
        f.src_ip = pk::ip_addr::v4(mcast);
        f.dst_ip = random_v4();
        break;
      }
      case 4:
        f.dst_ip = f.src_ip;
        break;
      default:
        if (cfg_.local_addr_count == 0) {
          f.src_mac[0] |= 1;
          break;
        }
        uint8_t a[16];
        std::memcpy(a, cfg_.local_addrs[below(cfg_.local_addr_count)], 16);
        f.src_ip = pk::ip_addr::v6_bytes(a);
        // An IPv4-mapped local address travels as IPv4.
        static const uint8_t kMapped[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(a, kMapped, 12) == 0) {
          f.src_ip = pk::ip_addr::v4(a + 12);
          f.dst_ip = random_v4();
        } else {
          f.dst_ip = random_v6();
        }
        break;
    }
  }

  const dc_config& cfg_;
  const key_set& keys_;
  std::mt19937 rng_;
  std::vector<uint16_t> ports_;
};

// The reply rate limit's map of the program: not pinned, so found among
// the maps the program uses (opening one by id needs CAP_SYS_ADMIN).
// Empty when it cannot be opened.
unique_fd reply_limit_map(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return {};
  std::vector<uint32_t> ids(info.nr_map_ids);
  info = {};
  info.nr_map_ids = uint32_t(ids.size());
  info.map_ids = uint64_t(uintptr_t(ids.data()));
  len = sizeof info;
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return {};
  ids.resize(std::min<size_t>(ids.size(), info.nr_map_ids));
  for (uint32_t id : ids) {
    unique_fd fd(bpf_map_get_fd_by_id(id));
    if (!fd) continue;
    bpf_map_info map{};
    len = sizeof map;
    if (bpf_obj_get_info_by_fd(fd.get(), &map, &len) == 0 &&
        std::string_view(map.name) == "dc_reply_limit")
      return fd;
  }
  return {};
}

void hex_lines(std::ostream& out, const char* label,
               std::span<const uint8_t> b) {
  out << "  " << label << " (" << b.size() << " bytes):\n";
  char buf[4];
  for (size_t i = 0; i < b.size(); i += 32) {
    out << "    ";
    for (size_t j = i; j < std::min(b.size(), i + 32); ++j) {
      std::snprintf(buf, sizeof buf, "%02x", b[j]);
      out << buf;
    }
    out << '\n';
  }
}

}  // namespace

std::vector<check_frame> make_check_frames(const dc_config& cfg,
                                           const key_set& keys, unsigned count,
                                           uint32_t seed) {
  std::vector<const char*> kinds;
  for (const auto& k : kKinds) {
    if (k.keys == needs::current && !keys.current()) continue;
    if (k.keys == needs::previous && !keys.previous()) continue;
    kinds.push_back(k.name);
  }
  generator gen(cfg, keys, seed);
  std::mt19937 pick(seed ^ 0x9e3779b9u);
  std::vector<check_frame> frames;
  frames.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    const size_t k = i < kinds.size() ? i
                                      : std::uniform_int_distribution<size_t>(
                                            0, kinds.size() - 1)(pick);
    frames.push_back(gen.make(kinds[k]));
  }
  return frames;
}

bool same_result(const model::outcome& expected, const run_result& actual) {
  return expected.verdict == actual.verdict && expected.frame == actual.frame;
}

check_report run_check(const dc_config& cfg, const key_set& keys,
                       const std::vector<check_frame>& frames,
                       const frame_runner& run_frame,
                       const bucket_reader& read_bucket) {
  check_report r;
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    model::reply_limit_state fresh;
    model::outcome expected = model::run(cfg, keys, f.frame, fresh);
    run_result actual = run_frame(f.frame);
    if (fresh.asked && read_bucket && !same_result(expected, actual)) {
      // A bucket that holds no reply even now, after the run, held none
      // when the kernel ran the frame: tokens only grow with time.
      // XXX: unless live traffic to the same prefix took them in between;
      // a wrongly withheld answer then passes for a limited one.
      const bucket_reading live = read_bucket(*fresh.asked);
      if (live.bucket &&
          !model::reply_take(cfg, live.bucket, live.now_ns).allowed) {
        model::reply_limit_state spent{live.now_ns, live.bucket, {}};
        model::outcome limited = model::run(cfg, keys, f.frame, spent);
        if (same_result(limited, actual)) expected = std::move(limited);
      }
    }
    ++r.frames;
    ++r.by_reason[model::counter_name(expected.reason)];
    r.kernel_ns += actual.duration_ns;
    if (!same_result(expected, actual))
      r.mismatches.push_back({i, f, std::move(expected), std::move(actual)});
  }
  return r;
}

check_report check_instance(const instance& inst, unsigned count,
                            uint32_t seed) {
  const dc_config cfg = inst.config();
  const int prog_fd = inst.prog_fd();
  // XXX: the live program counts these frames in the live counters, and
  // each answered one takes a bucket of the reply rate limit (evicting
  // the least recently used one when the table is full).
  const frame_runner kernel = [prog_fd](std::span<const uint8_t> frame) {
    return test_run(prog_fd, frame);
  };
  const unique_fd buckets = reply_limit_map(prog_fd);
  bucket_reader read_bucket;
  if (buckets)
    read_bucket = [fd = buckets.get()](const model::reply_key& k) {
      bucket_reading r;
      dc_reply_bucket b{};
      if (bpf_map_lookup_elem(fd, k.data(), &b) == 0) r.bucket = b;
      r.now_ns = model::reply_clock_ns();
      return r;
    };
  check_report report;
  for (int attempt = 0; attempt < kCheckAttempts; ++attempt) {
    const key_set before = inst.keys();
    report = run_check(cfg, before, make_check_frames(cfg, before, count, seed),
                       kernel, read_bucket);
    if (inst.keys() == before) return report;
  }
  throw error("the keys in " + inst.dir().string() +
              " changed during each of " + std::to_string(kCheckAttempts) +
              " checks; is something rotating them continuously?");
}

std::string summary(const check_report& r) {
  std::ostringstream s;
  s << r.frames << " frames, " << r.mismatches.size() << " mismatches";
  if (r.frames)
    s << ", " << r.kernel_ns / r.frames << " ns per frame in the kernel";
  s << "; by reason:";
  for (const auto& [reason, n] : r.by_reason) s << ' ' << reason << '=' << n;
  return s.str();
}

void print_report(std::ostream& out, const check_report& r) {
  for (const auto& m : r.mismatches) {
    out << "mismatch in frame " << m.index << " (" << m.input.kind
        << "): expected " << model::verdict_name(m.expected.verdict) << " ("
        << model::counter_name(m.expected.reason) << "), the kernel gave "
        << model::verdict_name(m.actual.verdict) << '\n';
    hex_lines(out, "input", m.input.frame);
    hex_lines(out, "expected", m.expected.frame);
    hex_lines(out, "kernel", m.actual.frame);
    const auto& a = m.expected.frame;
    const auto& b = m.actual.frame;
    const auto diff = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    if (diff.first != a.end() || diff.second != b.end())
      out << "  frames differ from byte " << (diff.first - a.begin()) << '\n';
  }
  out << (r.ok() ? "check passed: " : "check FAILED: ") << summary(r) << '\n';
}

int cmd_check(const check_options& o) {
  const auto inst = instance::open(o.pin_dir);
  if (!inst)
    throw error("no responder is pinned in " + o.pin_dir.string() +
                "; attach one first (dtls-cookie attach or run)");
  if (o.count == 0) throw error("--count must be at least 1");
  std::cout << "checking program id " << inst->prog_id() << " pinned in "
            << o.pin_dir.string() << " with " << o.count << " frames (seed "
            << o.seed << ")\n";
  // Without keys only the frames that need none can be checked, and a
  // responder that answers nothing must not pass for a working one.
  const std::string no_keys = missing_keys_reason(inst->keys_fd());
  if (!no_keys.empty())
    std::cout << "the key map holds no key set (" << no_keys
              << "): frames with cookies are left out\n";
  const check_report r = check_instance(*inst, o.count, o.seed);
  print_report(std::cout, r);
  if (!no_keys.empty() && r.ok())
    throw error("the key map in " + o.pin_dir.string() + " holds no key set (" +
                no_keys +
                "), so the responder answers no ClientHello: publish one "
                "(dtls-cookie rotate --pin-dir " +
                o.pin_dir.string() + ") and check again");
  return r.ok() ? 0 : 1;
}

}  // namespace dtls_cookie::agent
