// Differential test of the XDP responder against the userspace model:
// seeded random and mutated frames run through BPF_PROG_TEST_RUN and
// model::run, which must agree on verdict, bytes and counters, frame by frame.
#include <linux/bpf.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bpf_test_util.hpp"
#include "dtls_cookie/model.hpp"
#include "test_seed.hpp"

namespace dtls_cookie::testing {
namespace {

// Three loads, 100 000 frames each: about ten seconds on two cores
// (a run costs about 30 us with the model and the generator). DC_DIFF_FRAMES
// overrides the count per load.
constexpr size_t kDefaultFramesPerConfig = 100000;
// Counters are read once per batch: a per-CPU map read per frame would
// cost more than the run itself.
constexpr size_t kBatch = 500;
// Every reason but TX_FAILED and RATE_LIMITED must be reached this often
// per load, or the generator no longer covers the decision list.
constexpr uint64_t kMinPerReason = 100;
constexpr int kMaxReported = 10;

size_t frames_per_config() {
  if (const char* s = std::getenv("DC_DIFF_FRAMES"))
    return std::max<size_t>(kBatch, std::strtoul(s, nullptr, 0));
  return kDefaultFramesPerConfig;
}

const key kPrevious = test_key(40);
const key kCurrent = test_key(41);
// The current generation under other key bytes: a forged cookie.
const key kForged = [] {
  key k = test_key(41);
  k.bytes[5] ^= 0x21;
  return k;
}();
const key kUnknown = test_key(90);

// The key set of batch b: mostly current and previous, every tenth batch
// without keys and every tenth with the current key alone, so previous
// cookies also meet a set that no longer knows them.
key_set keys_of_batch(size_t b) {
  switch (b % 10) {
    case 8:
      return key_set(kCurrent);
    case 9:
      return key_set{};
    default:
      return key_set(kCurrent, kPrevious);
  }
}

struct diff_config {
  std::string name;
  responder_options opts;
};

// Ports at the edges of the bitmap words next to the usual one.
const std::vector<uint16_t> kPorts = {4433, 63, 64, 5684, 65535};

// The reply rate limit is on in two of the loads, so every answer goes
// through it, with a burst no run of this test can spend: the model here
// takes every destination to have a reply left (the near-miss sources
// share a few /64s). reply_limit_test.cpp holds the limit's decisions and
// arithmetic to the model.
std::vector<diff_config> diff_configs() {
  std::vector<diff_config> v;
  responder_options o = base_options();
  o.ports = kPorts;
  o.reply_burst = DC_REPLY_BURST_MAX;
  v.push_back({"defaults", o});

  o.established = o.fragmented = o.dtls13 = o.malformed = o.no_keys =
      DC_POLICY_DROP;
  o.reply_rate = 0;
  v.push_back({"all_drop", o});

  o = base_options();
  o.ports = kPorts;
  o.reply_burst = DC_REPLY_BURST_MAX;
  o.reply_prefix4 = 24;
  o.reply_prefix6 = 48;
  o.dtls13 = DC_POLICY_ANSWER;
  o.established = DC_POLICY_DROP;
  o.server_version = DC_VERSION_DTLS12;
  o.local_addrs.clear();
  for (int i = 0; i < DC_MAX_LOCAL_ADDRS / 2; ++i) {
    const std::string n = std::to_string(i + 1);
    o.local_addrs.push_back(pk::ip_addr::parse("203.0.113." + n).mapped);
    o.local_addrs.push_back(pk::ip_addr::parse("2001:db8::" + n).mapped);
  }
  v.push_back({"answer13_dtls12_locals", o});
  return v;
}

// A (offset, width) field in the DTLS payload or the frame that mutations
// overwrite.
struct field {
  size_t off;
  size_t width;  // 1 to 6
};

uint64_t load_field(const pk::bytes& b, field f) {
  uint64_t v = 0;
  for (size_t i = 0; i < f.width; ++i) v = v << 8 | b[f.off + i];
  return v;
}

void store_field(pk::bytes& b, field f, uint64_t v) {
  for (size_t i = f.width; i-- > 0; v >>= 8) b[f.off + i] = uint8_t(v);
}

// Seeded frames: well-formed requests of every shape first, then
// mutations at the DTLS level (before the UDP and IP lengths are computed,
// so the walk gets deep) and at the frame level.
class frame_gen {
 public:
  frame_gen(uint64_t seed, const responder_options& opts)
      : rng_(seed), opts_(opts) {}

  // The next frame; trace says how it was made.
  pk::bytes next(std::string& trace);

 private:
  uint64_t below(uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
  }
  uint64_t between(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  bool chance(double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }
  uint8_t byte() { return uint8_t(rng_()); }
  pk::bytes random_bytes(size_t n) {
    pk::bytes b(n);
    for (auto& x : b) x = byte();
    return b;
  }
  template <typename T>
  T pick(std::initializer_list<T> l) {
    return *(l.begin() + below(l.size()));
  }

  pk::ip_addr good_source(bool v6);
  void choose_source(pk::udp_frame& f, std::string& trace);
  pk::bytes cookie(const pk::udp_frame& f, std::string& trace);
  std::optional<std::vector<pk::extension>> extensions(std::string& trace);
  pk::bytes client_hello(const pk::udp_frame& f, std::vector<field>& fields,
                         std::string& trace);
  pk::bytes other_payload(const pk::udp_frame& f, std::vector<field>& fields,
                          std::string& trace);
  uint64_t new_value(uint64_t old, size_t width);
  void mutate_payload(pk::bytes& p, const std::vector<field>& fields,
                      std::string& trace);
  void mutate_frame(pk::bytes& b, const pk::udp_frame& f, std::string& trace);

  std::mt19937_64 rng_;
  const responder_options& opts_;
};

pk::ip_addr frame_gen::good_source(bool v6) {
  if (v6) {
    uint8_t a[16];
    for (auto& x : a) x = byte();
    a[0] = uint8_t(0x20 | (a[0] & 0x1f));  // 2000::/3
    return pk::ip_addr::v6_bytes(a);
  }
  uint8_t a[4] = {uint8_t(between(1, 223)), byte(), byte(), byte()};
  if (a[0] == 127) a[0] = 128;
  return pk::ip_addr::v4(a);
}

void frame_gen::choose_source(pk::udp_frame& f, std::string& trace) {
  const bool v6 = f.dst_ip.v6;
  f.src_ip = good_source(v6);
  const uint64_t r = below(100);
  if (r < 86) return;
  // The local addresses of this family, for the "own address" kind.
  std::vector<std::array<uint8_t, 16>> locals;
  for (const auto& a : opts_.local_addrs) {
    const bool mapped = a[10] == 0xff && a[11] == 0xff &&
                        std::all_of(a.begin(), a.begin() + 10,
                                    [](uint8_t x) { return x == 0; });
    if (mapped != v6) locals.push_back(a);
  }
  if (r < 93) {
    trace += " bad_source";
    switch (below(5)) {
      case 0:
        f.src_mac[0] |= 1;
        if (chance(0.3)) f.src_mac.fill(0xff);
        return;
      case 1:
        f.src_port = 0;
        return;
      case 2:
        f.src_ip = f.dst_ip;
        return;
      case 3:
        if (!locals.empty()) {
          f.src_ip.mapped = locals[below(locals.size())];
          return;
        }
        break;
      default:
        break;
    }
    if (v6) {
      auto& s = f.src_ip.mapped;
      switch (below(4)) {
        case 0:
          s.fill(0);
          s[15] = uint8_t(below(2));  // :: or ::1
          break;
        case 1:
          s[0] = 0xff;  // multicast
          break;
        default:
          s = {0, 0,    0,    0,      0,      0,      0,     0, 0,
               0, 0xff, 0xff, byte(), byte(), byte(), byte()};  // IPv4-mapped
          break;
      }
    } else {
      const uint8_t first = pick<uint8_t>({0, 127, 224, 239, 240, 255});
      f.src_ip.mapped[12] =
          uint8_t(first == 224 || first == 240 ? first + below(16) : first);
      if (first == 255 && chance(0.5))
        std::fill(f.src_ip.mapped.begin() + 12, f.src_ip.mapped.end(), 0xff);
    }
    return;
  }
  // Near misses: next to a refused range, yet a client.
  trace += " near_source";
  if (v6) {
    auto& s = f.src_ip.mapped;
    s.fill(0);
    switch (below(6)) {
      case 0:
        s[15] = uint8_t(between(2, 255));  // ::2 and up
        break;
      case 1:
        s[10] = 0xff;
        s[11] = 0xfe;  // ::fffe:a.b.c.d
        s[12] = byte();
        break;
      case 2:
        s[9] = 1;
        s[10] = s[11] = 0xff;  // ::1:ffff:a.b.c.d
        break;
      case 3:
        s[0] = 0xfe;
        s[1] = 0x80;  // fe80::
        s[15] = 1;
        break;
      case 4:
        s[14] = 1;  // ::0.0.1.0
        break;
      default:
        s[7] = 1;  // 0:0:0:1::
        break;
    }
  } else {
    f.src_ip.mapped[12] = pick<uint8_t>({1, 126, 128, 223});
  }
}

pk::bytes frame_gen::cookie(const pk::udp_frame& f, std::string& trace) {
  pk::udp_frame other = f;
  switch (below(13)) {
    case 0:
    case 1:
      trace += " cookie_none";
      return {};
    case 2:
    case 3:
      trace += " cookie_current";
      return cookie_for(kCurrent, f);
    case 4:
    case 5:
      trace += " cookie_previous";
      return cookie_for(kPrevious, f);
    case 6:
      trace += " cookie_forged";
      return cookie_for(kForged, f);
    case 7:
      trace += " cookie_other_address";
      other.src_ip.mapped[15] ^= uint8_t(between(1, 255));
      return cookie_for(kCurrent, other);
    case 8:
      trace += " cookie_other_port";
      other.src_port = uint16_t(other.src_port ^ between(1, 0xffff));
      return cookie_for(kCurrent, other);
    case 9:
      trace += " cookie_unknown_generation";
      return cookie_for(kUnknown, f);
    case 10: {
      trace += " cookie_bad_length";
      pk::bytes c = cookie_for(kCurrent, f);
      if (chance(0.5)) {
        c.pop_back();
      } else {
        c.push_back(byte());
      }
      return c;
    }
    case 11:
      // Generation 0 is what an absent previous key holds in the map.
      trace += " cookie_generation_0";
      {
        pk::bytes c = random_bytes(DC_COOKIE_LEN);
        std::fill(c.begin(), c.begin() + 4, 0);
        return c;
      }
    default:
      trace += " cookie_random";
      return random_bytes(chance(0.3) ? DC_COOKIE_LEN : below(256));
  }
}

std::optional<std::vector<pk::extension>> frame_gen::extensions(
    std::string& trace) {
  const uint64_t r = below(100);
  if (r < 20) return std::nullopt;
  std::vector<pk::extension> e;
  if (r < 24) return e;  // an empty block
  const auto versions = [&](size_t n) {
    pk::extension sv;
    sv.type = DC_EXT_SUPPORTED_VERSIONS;
    sv.data.push_back(uint8_t(2 * n));
    for (size_t i = 0; i < n; ++i) {
      const uint16_t v =
          pick<uint16_t>({DC_VERSION_DTLS12, DC_VERSION_DTLS10,
                          DC_VERSION_DTLS13, 0x0304, 0x0303, 0x7f7f});
      sv.data.push_back(uint8_t(v >> 8));
      sv.data.push_back(uint8_t(v));
    }
    return sv;
  };
  if (r < 30) {
    trace += " many_extensions";
    const size_t n = between(44, 50);
    for (size_t i = 0; i < n; ++i)
      e.push_back({uint16_t(0xff00 + i), random_bytes(below(4))});
    if (chance(0.5)) {
      e.insert(e.begin() + long(below(e.size() + 1)), versions(between(1, 3)));
      trace += "+versions";
    }
    return e;
  }
  const size_t n = below(9);
  for (size_t i = 0; i < n; ++i)
    e.push_back({pick<uint16_t>({0, 10, 11, 13, 23, 35, 0xff01, 0x1234}),
                 random_bytes(below(21))});
  if (chance(0.6)) {
    pk::extension sv;
    switch (below(10)) {
      case 0:
        trace += " versions_16";
        sv = versions(16);
        sv.data[31] = 0xfe;
        sv.data[32] = 0xfc;
        break;
      case 1:
        trace += " versions_17";
        sv = versions(17);
        break;
      case 2:
        trace += " versions_bad_list";
        sv = versions(between(0, 4));
        sv.data[0] = uint8_t(sv.data[0] + pick<int>({-2, -1, 1, 2}));
        break;
      case 3:
        trace += " versions_empty";
        sv.type = DC_EXT_SUPPORTED_VERSIONS;
        break;
      default:
        trace += " versions";
        sv = versions(between(1, 6));
        break;
    }
    e.insert(e.begin() + long(below(e.size() + 1)), sv);
  }
  return e;
}

pk::bytes frame_gen::client_hello(const pk::udp_frame& f,
                                  std::vector<field>& fields,
                                  std::string& trace) {
  pk::client_hello ch;
  ch.record_version = chance(0.03)  ? uint16_t(rng_())
                      : chance(0.5) ? DC_VERSION_DTLS10
                                    : DC_VERSION_DTLS12;
  ch.client_version = chance(0.03)  ? uint16_t(rng_())
                      : chance(0.5) ? DC_VERSION_DTLS10
                                    : DC_VERSION_DTLS12;
  switch (below(10)) {
    case 0:
    case 1:
    case 2:
      ch.record_seq = below(11);
      break;
    case 3:
      ch.record_seq = (uint64_t(1) << 48) - 1;
      break;
    case 4:
      ch.record_seq = (uint64_t(1) << 32) + below(uint64_t(1) << 16);
      break;
    default:
      ch.record_seq = rng_() >> 16;
      break;
  }
  ch.message_seq = chance(0.8) ? uint16_t(below(3)) : uint16_t(rng_());
  for (auto& x : ch.random) x = byte();
  ch.session_id = random_bytes(chance(0.3) ? 32 : below(33));
  ch.cookie = cookie(f, trace);
  ch.cipher_suites.resize(chance(0.02) ? 0 : between(1, 30));
  for (auto& s : ch.cipher_suites) s = uint16_t(rng_());
  ch.compression = random_bytes(chance(0.02) ? 0 : between(1, 3));
  ch.extensions = extensions(trace);

  // Handshake records that are not an unfragmented ClientHello.
  switch (below(25)) {
    case 0:
      trace += " epoch";
      ch.epoch = uint16_t(between(1, 0xffff));
      break;
    case 1:
      trace += " msg_type";
      ch.msg_type = byte();
      break;
    case 2:
      trace += " fragment";
      if (chance(0.5)) ch.fragment_offset = uint32_t(between(0, 300));
      if (chance(0.7)) ch.fragment_length = uint32_t(between(0, 300));
      break;
    default:
      break;
  }

  // The fields mutations aim at.
  const size_t sid = ch.session_id.size(), ck = ch.cookie.size();
  fields = {{0, 1},  {1, 2},  {3, 2},  {5, 6},  {11, 2}, {13, 1},
            {14, 3}, {17, 2}, {19, 3}, {22, 3}, {25, 2}, {59, 1}};
  size_t off = 60 + sid;
  fields.push_back({off, 1});  // cookie length
  off += 1 + ck;
  fields.push_back({off, 2});  // cipher_suites length
  off += 2 + 2 * ch.cipher_suites.size();
  fields.push_back({off, 1});  // compression_methods length
  off += 1 + ch.compression.size();
  if (ch.extensions) {
    fields.push_back({off, 2});  // extension block length
    off += 2;
    for (const auto& e : *ch.extensions) {
      fields.push_back({off, 2});
      fields.push_back({off + 2, 2});
      if (e.type == DC_EXT_SUPPORTED_VERSIONS && !e.data.empty())
        fields.push_back({off + 4, 1});
      off += 4 + e.data.size();
    }
  }
  return pk::build(ch);
}

pk::bytes frame_gen::other_payload(const pk::udp_frame& f,
                                   std::vector<field>& fields,
                                   std::string& trace) {
  fields = {{0, 1}, {1, 2}, {3, 2}, {5, 6}, {11, 2}};
  pk::bytes p;
  switch (below(5)) {
    case 0: {
      trace += " record";
      const uint8_t type =
          chance(0.2) ? byte()
                      : pick<uint8_t>({20, 21, 22, 23, 24, 25, 26, 19, 0});
      const size_t len = below(80);
      p = random_bytes(13 + len);
      p[0] = type;
      p[1] = 0xfe;
      p[2] = pick<uint8_t>({0xfd, 0xff, 0xfc});
      if (chance(0.7)) wire::store_be<2>(&p[11], len);
      return p;
    }
    case 1:
      trace += " unified_header";
      p = random_bytes(between(1, 60));
      p[0] = uint8_t(0x20 | (p[0] & 0x1f));
      return p;
    case 2:
      trace += " junk";
      return random_bytes(below(40));
    case 3:
      trace += " short_handshake";
      p = random_bytes(between(13, 30));
      p[0] = DC_CONTENT_HANDSHAKE;
      p[1] = 0xfe;
      p[2] = 0xfd;
      p[3] = p[4] = 0;
      return p;
    default:
      trace += " client_hello_cut";
      p = client_hello(f, fields, trace);
      p.resize(below(p.size()));
      return p;
  }
}

uint64_t frame_gen::new_value(uint64_t old, size_t width) {
  const uint64_t mask =
      width >= 8 ? ~uint64_t(0) : (uint64_t(1) << 8 * width) - 1;
  switch (below(6)) {
    case 0:
      return rng_() & mask;
    case 1:
    case 2:
      return (old + uint64_t(pick<int>({-3, -2, -1, 1, 2, 3}))) & mask;
    case 3:
      return 0;
    case 4:
      return mask;
    default:
      return pick<uint64_t>(
                 {1, 12, 13, 22, 25, 32, 33, 43, 0xfefc, 0xfefd, 0xfeff}) &
             mask;
  }
}

void frame_gen::mutate_payload(pk::bytes& p, const std::vector<field>& fields,
                               std::string& trace) {
  // Rewrites the record and handshake lengths to the datagram's size, so
  // a cut or an extension of the body reaches the walk behind them.
  const auto fix_lengths = [&] {
    if (p.size() < 25) return;
    const uint32_t body = uint32_t(p.size() - 25);
    wire::store_be<2>(&p[11], 12 + body);
    wire::store_be<3>(&p[14], body);
    wire::store_be<3>(&p[22], body);
  };
  const size_t n = between(1, 3);
  for (size_t i = 0; i < n; ++i) {
    switch (below(7)) {
      case 0:
        if (p.empty()) break;
        trace += " p_flip";
        p[below(p.size())] ^= uint8_t(between(1, 255));
        break;
      case 1:
        trace += " p_cut";
        p.resize(below(p.size() + 1));
        if (chance(0.6)) fix_lengths();
        break;
      case 2: {
        trace += " p_append";
        const pk::bytes junk = random_bytes(between(1, 40));
        p.insert(p.end(), junk.begin(), junk.end());
        if (chance(0.6)) fix_lengths();
        break;
      }
      default: {
        const field f = fields[below(fields.size())];
        if (f.off + f.width > p.size()) break;
        trace += " p_field@" + std::to_string(f.off);
        store_field(p, f, new_value(load_field(p, f), f.width));
        break;
      }
    }
  }
}

void frame_gen::mutate_frame(pk::bytes& b, const pk::udp_frame& f,
                             std::string& trace) {
  const size_t l3 = 14 + 4 * f.vlans.size();
  size_t l4 = l3;
  std::vector<field> fields = {{6, 1}, {l3 - 2, 2}};
  for (size_t i = 0; i < f.vlans.size(); ++i) fields.push_back({12 + 4 * i, 2});
  if (f.dst_ip.v6) {
    for (const auto& e : f.ipv6_ext) l4 += e.data.size();
    l4 += 40;
    fields.insert(fields.end(), {{l3, 1},
                                 {l3 + 4, 2},
                                 {l3 + 4, 2},
                                 {l3 + 6, 1},
                                 {l3 + 8, 1},
                                 {l3 + 20, 4},
                                 {l3 + 36, 4}});
  } else {
    l4 += 20 + f.ipv4_options.size();
    fields.insert(fields.end(), {{l3, 1},
                                 {l3 + 2, 2},
                                 {l3 + 2, 2},
                                 {l3 + 6, 2},
                                 {l3 + 9, 1},
                                 {l3 + 12, 1},
                                 {l3 + 15, 1}});
  }
  fields.insert(fields.end(),
                {{l4, 2}, {l4 + 2, 2}, {l4 + 4, 2}, {l4 + 4, 2}, {l4 + 4, 2}});
  const size_t n = between(1, 2);
  for (size_t i = 0; i < n; ++i) {
    switch (below(6)) {
      case 0:
        trace += " f_flip";
        b[below(b.size())] ^= uint8_t(between(1, 255));
        break;
      case 1:
        // BPF_PROG_TEST_RUN takes no frame shorter than Ethernet's header.
        trace += " f_cut";
        b.resize(between(14, b.size()));
        break;
      case 2: {
        trace += " f_append";
        const pk::bytes junk = random_bytes(between(1, 64));
        b.insert(b.end(), junk.begin(), junk.end());
        break;
      }
      default: {
        const field fl = fields[below(fields.size())];
        if (fl.off + fl.width > b.size()) break;
        trace += " f_field@" + std::to_string(fl.off);
        store_field(b, fl, new_value(load_field(b, fl), fl.width));
        break;
      }
    }
  }
}

pk::bytes frame_gen::next(std::string& trace) {
  trace.clear();
  pk::udp_frame f;
  const bool v6 = chance(0.4);
  for (auto& x : f.src_mac) x = byte();
  for (auto& x : f.dst_mac) x = byte();
  f.src_mac[0] &= 0xfe;
  const uint64_t tags = below(100);
  const size_t n_tags = tags < 50 ? 0 : tags < 75 ? 1 : tags < 97 ? 2 : 3;
  for (size_t i = 0; i < n_tags; ++i)
    f.vlans.push_back(
        {pick<uint16_t>({0x8100, 0x88a8}), uint16_t(rng_() & 0xffff)});
  trace =
      std::string(v6 ? "ipv6" : "ipv4") + " vlans=" + std::to_string(n_tags);

  if (v6) {
    f.dst_ip =
        chance(0.5) ? pk::ip_addr::parse("2001:db8::1") : good_source(true);
    f.ipv6_vtc_flow = 0x60000000u | uint32_t(rng_() & 0x0fffffff);
    if (chance(0.03)) {
      trace += " ext_header";
      pk::bytes h = random_bytes(8);
      h[1] = 0;
      f.ipv6_ext.push_back({pick<uint8_t>({0, 43, 44, 60}), h});
    }
  } else {
    f.dst_ip =
        chance(0.5) ? pk::ip_addr::parse("198.51.100.1") : good_source(false);
    if (chance(0.25)) {
      trace += " options";
      f.ipv4_options = random_bytes(4 * between(1, 10));
    }
    f.tos = byte();
    f.id = uint16_t(rng_());
    switch (below(20)) {
      case 0:
        trace += " ip_fragment";
        f.frag_off = uint16_t(pick<uint16_t>({0x2000, 0x6000, 0}) |
                              (chance(0.5) ? below(0x2000) : 0));
        if (f.frag_off == 0) f.frag_off = 1;
        break;
      case 1:
        f.frag_off = 0x8000;  // the reserved bit is no fragment
        break;
      default:
        f.frag_off = chance(0.7) ? 0x4000 : 0;
        break;
    }
  }
  f.ttl = byte();
  f.src_port = uint16_t(chance(0.9) ? between(1024, 65535) : between(1, 1023));
  f.dst_port = chance(0.88) ? kPorts[below(kPorts.size())] : uint16_t(rng_());
  choose_source(f, trace);

  std::vector<field> fields;
  f.payload = chance(0.75) ? client_hello(f, fields, trace)
                           : other_payload(f, fields, trace);
  if (chance(0.3)) mutate_payload(f.payload, fields, trace);
  if (chance(0.1)) {
    trace += " padding";
    f.trailer = between(1, 40);
  }
  pk::bytes b = pk::build(f);
  if (chance(0.2)) mutate_frame(b, f, trace);
  return b;
}

std::string hex(const pk::bytes& b) {
  static const char* const kDigits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i && i % 32 == 0) s += "\n";
    s += kDigits[b[i] >> 4];
    s += kDigits[b[i] & 15];
  }
  return s;
}

size_t first_difference(const pk::bytes& a, const pk::bytes& b) {
  const auto m = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return size_t(m.first - a.begin());
}

// The counters one frame must bump: its reason and its verdict.
void add_expected(counters& c, const model::outcome& m) {
  ++c[m.reason];
  ++c[model::verdict_counter(m.verdict)];
}

std::string describe_counters(const counters& c) {
  std::string s;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c[i]) continue;
    if (!s.empty()) s += " ";
    s += model::counter_name(dc_counter(i));
    s += "=" + std::to_string(c[i]);
  }
  return s;
}

class Differential : public ::testing::TestWithParam<diff_config> {};

TEST_P(Differential, KernelMatchesModel) {
  DC_REQUIRE_ROOT();
  const diff_config& dc = GetParam();
  const dc_config cfg = to_config(dc.opts);
  const responder& prog = program(cfg);
  const uint32_t seed = test_seed();
  // Each load draws its own sequence from the one seed.
  std::vector<uint32_t> entropy{seed};
  entropy.insert(entropy.end(), dc.name.begin(), dc.name.end());
  std::seed_seq seq(entropy.begin(), entropy.end());
  std::mt19937_64 seeder(seq);
  frame_gen gen(seeder(), dc.opts);
  const std::string note = seed_note(seed) + ", configuration " + dc.name;
  const size_t total = frames_per_config();

  struct item {
    size_t index;
    pk::bytes frame;
    std::string trace;
    model::outcome expected;
  };
  std::vector<item> batch;
  batch.reserve(kBatch);
  counters tally{};  // what the model expected over the whole run
  int reported = 0;
  size_t frame_no = 0;
  const auto report = [&](const item& it, const std::string& what) {
    if (++reported > kMaxReported) return;
    ADD_FAILURE() << what << "\n  frame " << it.index << " (" << it.trace
                  << ")\n  model: " << model::verdict_name(it.expected.verdict)
                  << " " << model::counter_name(it.expected.reason) << "\n  "
                  << note << "\n  input " << it.frame.size() << " bytes:\n"
                  << hex(it.frame);
  };

  for (size_t b = 0; b * kBatch < total; ++b) {
    const key_set keys = keys_of_batch(b);
    prog.publish_keys(keys);
    batch.clear();
    counters expected{};
    const counters before = prog.read_counters();
    for (size_t i = 0; i < kBatch && frame_no < total; ++i, ++frame_no) {
      item it;
      it.index = frame_no;
      it.frame = gen.next(it.trace);
      it.expected = model::run(cfg, keys, it.frame);
      add_expected(expected, it.expected);
      const run_result got = prog.test_run(it.frame);
      if (got.verdict != it.expected.verdict) {
        report(it, std::string("verdict: kernel ") +
                       model::verdict_name(got.verdict));
      } else if (got.frame != it.expected.frame) {
        report(it, "frame bytes differ at offset " +
                       std::to_string(
                           first_difference(got.frame, it.expected.frame)) +
                       "\n  kernel " + std::to_string(got.frame.size()) +
                       " bytes:\n" + hex(got.frame) + "\n  model " +
                       std::to_string(it.expected.frame.size()) + " bytes:\n" +
                       hex(it.expected.frame));
      }
      // Held to the input itself too, not only to the model's copy of it.
      if (got.verdict != XDP_TX && got.frame != it.frame)
        report(it, "frame changed under " +
                       std::string(model::verdict_name(got.verdict)));
      if (got.frame.size() > it.frame.size() ||
          (got.verdict == XDP_TX && got.frame.size() >= it.frame.size()))
        report(it, "reply of " + std::to_string(got.frame.size()) +
                       " bytes is not smaller than the request");
      if (got.verdict == XDP_TX && !HasFailure()) {
        SCOPED_TRACE(note + ", frame " + std::to_string(frame_no));
        expect_valid_checksums(got.frame);
      }
      batch.push_back(std::move(it));
    }
    for (size_t i = 0; i < tally.size(); ++i) tally[i] += expected[i];

    const counters delta = counter_delta(before, prog.read_counters());
    if (delta == expected) continue;
    // Replays the batch one frame at a time to name the frames at fault.
    ADD_FAILURE() << "batch " << b << " counters: kernel "
                  << describe_counters(delta) << "\n  model "
                  << describe_counters(expected) << "\n  " << note;
    int named = 0;
    for (const item& it : batch) {
      const counters c0 = prog.read_counters();
      prog.test_run(it.frame);
      const counters d = counter_delta(c0, prog.read_counters());
      counters want{};
      add_expected(want, it.expected);
      if (d != want && named++ < 3)
        report(it, "counters: kernel " + describe_counters(d));
    }
  }
  EXPECT_EQ(reported, 0) << "disagreements (the first " << kMaxReported
                         << " shown above)";

  std::printf("[differential] %s: %zu frames, %s; %s\n", dc.name.c_str(),
              frame_no, seed_note(seed).c_str(),
              describe_counters(tally).c_str());
  for (int c = DC_CNT_NOT_OURS; c < DC_CNT_MAX; ++c) {
    if (c == DC_CNT_TX_FAILED || c == DC_CNT_RATE_LIMITED) continue;
    EXPECT_GE(tally[c], kMinPerReason) << model::counter_name(dc_counter(c))
                                       << " too rare to be covered; " << note;
  }
  EXPECT_EQ(tally[DC_CNT_XDP_ABORTED], 0u);
  EXPECT_GE(tally[DC_CNT_XDP_TX], kMinPerReason);
  EXPECT_GE(tally[DC_CNT_XDP_DROP], kMinPerReason);
  EXPECT_GE(tally[DC_CNT_XDP_PASS], kMinPerReason);
}

INSTANTIATE_TEST_SUITE_P(Configs, Differential,
                         ::testing::ValuesIn(diff_configs()),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace dtls_cookie::testing
