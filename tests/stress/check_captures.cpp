// dc_stress_check: the fault test's verdict on what was captured. Reads the
// key log of dc_stress_key_log and pcap files of HelloVerifyRequests, and
// checks with the library's reference that the key sets follow each other
// without a loss, and that every captured cookie names a logged key, carries
// the SipHash tag of that key over the client's identity, and was captured
// while that key was current or previous.
//
// usage: dc_stress_check --keys LOG [--flood PCAP]... [--client PCAP]...
//   --flood:  a capture on the flood's interface; each frame must equal,
//             byte for byte, the library's reply to the load generator's
//             ClientHello from that source.
//   --client: a capture on a real client's interface; each
//             HelloVerifyRequest's 40 bytes must equal the library's for
//             its key, address and record sequence number.
// Capture times and the key log are both CLOCK_REALTIME.
// Prints the figures; exit code 1 on any failure.
#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/wire.hpp"
#include "openssl_hello.hpp"

namespace {

namespace dc = dtls_cookie;
namespace pk = dtls_cookie::packet;

// When a generation became current: after lo, no later than hi (ns).
struct window {
  uint64_t lo = 0, hi = 0;
};

struct key_set_seen {
  window published;
  std::optional<dc::key> current, previous;
};

std::optional<dc::key> parse_key(const std::string& gen,
                                 const std::string& hex) {
  if (gen == "-") return std::nullopt;
  dc::key k;
  k.generation = uint32_t(std::stoul(gen));
  if (hex.size() != 2 * k.bytes.size())
    throw std::runtime_error("bad key bytes '" + hex + "'");
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return k;
}

bool same_key(const std::optional<dc::key>& a,
              const std::optional<dc::key>& b) {
  if (!a || !b) return !a && !b;
  return a->generation == b->generation && a->bytes == b->bytes;
}

struct failures {
  std::map<std::string, uint64_t> by_reason;
  uint64_t total = 0;
  int shown = 0;

  void add(const std::string& reason, const std::string& detail) {
    ++by_reason[reason];
    ++total;
    if (shown++ < 20)
      std::fprintf(stderr, "FAIL %s: %s\n", reason.c_str(), detail.c_str());
  }
};

class key_history {
 public:
  // Reads the log and checks that each set follows the one before: the
  // old current key is the new previous one and the generation counts up.
  void load(const std::string& path, failures& fail) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string tag;
      s >> tag;
      if (tag == "end") {
        s >> polls_ >> max_gap_us_ >> retries_;
        continue;
      }
      if (tag != "set") continue;
      key_set_seen k;
      std::string cg, ch, pg, ph;
      s >> k.published.lo >> k.published.hi >> cg >> ch >> pg >> ph;
      if (!s) throw std::runtime_error("bad key log line: " + line);
      k.current = parse_key(cg, ch);
      k.previous = parse_key(pg, ph);
      add(k, fail);
    }
    if (sets_.empty()) throw std::runtime_error(path + " logs no key set");
  }

  const dc::key* find(uint32_t generation) const {
    const auto it = keys_.find(generation);
    return it == keys_.end() ? nullptr : &it->second;
  }

  const window* became_current(uint32_t generation) const {
    const auto it = current_at_.find(generation);
    return it == current_at_.end() ? nullptr : &it->second.published;
  }

  size_t sets() const { return sets_.size(); }
  uint32_t first_generation() const {
    return sets_.front().current->generation;
  }
  uint32_t last_generation() const { return sets_.back().current->generation; }
  uint64_t polls() const { return polls_; }
  uint64_t max_gap_us() const { return max_gap_us_; }
  uint64_t retries() const { return retries_; }

 private:
  void add(const key_set_seen& k, failures& fail) {
    if (!k.current) {
      fail.add("keys lost", "a key set with no current key was published");
      return;
    }
    if (!sets_.empty()) {
      const key_set_seen& before = sets_.back();
      if (!same_key(k.previous, before.current) ||
          k.current->generation != before.current->generation + 1)
        fail.add("key sets not consecutive",
                 "generation " + std::to_string(k.current->generation) +
                     " followed " + std::to_string(before.current->generation) +
                     (same_key(k.previous, before.current)
                          ? ""
                          : " and did not keep it as the previous key"));
    }
    for (const auto* key : {&k.current, &k.previous}) {
      if (!*key) continue;
      const auto [it, fresh] = keys_.emplace((*key)->generation, **key);
      if (!fresh && it->second.bytes != (*key)->bytes)
        fail.add("key changed", "generation " +
                                    std::to_string((*key)->generation) +
                                    " was published twice with other bytes");
    }
    current_at_.try_emplace(k.current->generation, k);
    sets_.push_back(k);
  }

  std::vector<key_set_seen> sets_;
  std::map<uint32_t, dc::key> keys_;
  std::map<uint32_t, key_set_seen> current_at_;
  uint64_t polls_ = 0, max_gap_us_ = 0, retries_ = 0;
};

struct frame_view {
  uint64_t ns = 0;
  std::vector<uint8_t> bytes;
  uint32_t wire_len = 0;
};

std::vector<frame_view> read_pcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  uint32_t hdr[6];
  if (!in.read(reinterpret_cast<char*>(hdr), sizeof hdr))
    throw std::runtime_error(path + ": no pcap header");
  bool nano;
  if (hdr[0] == 0xa1b23c4d)
    nano = true;
  else if (hdr[0] == 0xa1b2c3d4)
    nano = false;
  else
    throw std::runtime_error(path + ": not a little-endian pcap file");
  if (hdr[5] != 1) throw std::runtime_error(path + ": not Ethernet");
  std::vector<frame_view> out;
  uint32_t rec[4];
  while (in.read(reinterpret_cast<char*>(rec), sizeof rec)) {
    frame_view f;
    f.ns = uint64_t(rec[0]) * 1000000000u + (nano ? rec[1] : rec[1] * 1000u);
    f.bytes.resize(rec[2]);
    f.wire_len = rec[3];
    if (!in.read(reinterpret_cast<char*>(f.bytes.data()), rec[2])) break;
    out.push_back(std::move(f));
  }
  return out;
}

// A UDP datagram from the server port in an Ethernet frame (no VLAN, IPv4
// without options or IPv6 without extension headers: what both the
// responder and the server's stack send).
struct datagram {
  pk::mac_addr src_mac, dst_mac;
  pk::ip_addr src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;
  // IPv4 with the don't-fragment bit: the responder clears it, a server's
  // stack sets it (path MTU discovery), so it tells the senders apart.
  bool v4_dont_fragment = false;
  std::span<const uint8_t> payload;
};

std::optional<datagram> parse_udp(const std::vector<uint8_t>& f,
                                  uint16_t port) {
  if (f.size() < 14) return std::nullopt;
  datagram d;
  std::memcpy(d.dst_mac.data(), &f[0], 6);
  std::memcpy(d.src_mac.data(), &f[6], 6);
  const uint16_t type = uint16_t(f[12] << 8 | f[13]);
  size_t l4;
  if (type == 0x0800) {
    if (f.size() < 14 + 20 + 8 || f[14] != 0x45 || f[14 + 9] != 17)
      return std::nullopt;
    d.src_ip = pk::ip_addr::v4(&f[14 + 12]);
    d.dst_ip = pk::ip_addr::v4(&f[14 + 16]);
    d.v4_dont_fragment = f[14 + 6] & 0x40;
    l4 = 14 + 20;
  } else if (type == 0x86dd) {
    if (f.size() < 14 + 40 + 8 || f[14 + 6] != 17) return std::nullopt;
    d.src_ip = pk::ip_addr::v6_bytes(&f[14 + 8]);
    d.dst_ip = pk::ip_addr::v6_bytes(&f[14 + 24]);
    l4 = 14 + 40;
  } else {
    return std::nullopt;
  }
  d.src_port = uint16_t(f[l4] << 8 | f[l4 + 1]);
  d.dst_port = uint16_t(f[l4 + 2] << 8 | f[l4 + 3]);
  const size_t udp_len = size_t(f[l4 + 4] << 8 | f[l4 + 5]);
  if (d.src_port != port || udp_len < 8 || l4 + udp_len > f.size())
    return std::nullopt;
  d.payload = std::span(f).subspan(l4 + 8, udp_len - 8);
  return d;
}

// A handshake record of epoch 0 holding a HelloVerifyRequest; other
// records from the server (its handshake, application data) are not ours.
bool is_hello_verify_request(std::span<const uint8_t> p) {
  return p.size() >= DC_RECORD_HEADER_LEN + 1 && p[0] == DC_CONTENT_HANDSHAKE &&
         p[3] == 0 && p[4] == 0 &&
         p[DC_RECORD_HEADER_LEN] == DC_HS_HELLO_VERIFY_REQUEST;
}

std::string hex(std::span<const uint8_t> b) {
  std::string s;
  char buf[3];
  for (uint8_t x : b) {
    std::snprintf(buf, sizeof buf, "%02x", x);
    s += buf;
  }
  return s;
}

std::string addr_text(const datagram& d) {
  char buf[INET6_ADDRSTRLEN];
  if (d.dst_ip.v6)
    inet_ntop(AF_INET6, d.dst_ip.mapped.data(), buf, sizeof buf);
  else
    inet_ntop(AF_INET, d.dst_ip.v4_bytes(), buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(d.dst_port);
}

struct file_figures {
  uint64_t frames = 0, checked = 0, other = 0;
  uint64_t while_current = 0, while_previous = 0, at_rotation = 0;
  uint64_t v4_from_stack = 0;
  std::map<uint32_t, uint64_t> per_generation;
};

class checker {
 public:
  checker(const key_history& keys, uint16_t port, failures& fail)
      : keys_(keys), port_(port), fail_(fail) {
    flood_hello_ = dc::bench::openssl_like_client_hello();
    flood_payload_ = pk::build(flood_hello_);
  }

  file_figures check_file(const std::string& path, bool flood) {
    file_figures fig;
    for (const frame_view& f : read_pcap(path)) {
      ++fig.frames;
      const auto d = parse_udp(f.bytes, port_);
      if (!d || !is_hello_verify_request(d->payload)) {
        // The flood's sink sees nothing but answers; anything else there
        // is a fault. A client's interface also carries the handshake.
        if (flood)
          fail_.add("not a HelloVerifyRequest", path + ": " + hex(f.bytes));
        ++fig.other;
        continue;
      }
      check_one(path, f, *d, flood, fig);
    }
    return fig;
  }

 private:
  void check_one(const std::string& path, const frame_view& f,
                 const datagram& d, bool flood, file_figures& fig) {
    ++fig.checked;
    if (d.v4_dont_fragment) ++fig.v4_from_stack;
    const std::string where =
        path + " " + addr_text(d) + " at " + std::to_string(f.ns) + " ns";
    if (d.payload.size() != DC_HVR_LEN) {
      fail_.add("wrong length", where + ": " + hex(d.payload));
      return;
    }
    dc_cookie cookie;
    std::memcpy(&cookie, &d.payload[DC_HVR_LEN - DC_COOKIE_LEN], sizeof cookie);
    const uint32_t gen = ntohl(cookie.key_generation);
    ++fig.per_generation[gen];
    const dc::key* key = keys_.find(gen);
    if (!key) {
      fail_.add("unknown key generation",
                where + ": generation " + std::to_string(gen));
      return;
    }
    const dc::client_identity id{d.dst_ip.mapped, htons(d.dst_port)};
    if (dc::check_cookie(dc::key_set(*key), id, cookie_bytes(d)) !=
        dc::cookie_status::valid_current)
      fail_.add("bad tag", where + ": generation " + std::to_string(gen) +
                               " cookie " + hex(cookie_bytes(d)));

    // The whole datagram the reference would send for this key.
    const uint64_t seq =
        flood ? flood_hello_.record_seq : dc::wire::load_be<6>(&d.payload[5]);
    const auto hvr = dc::wire::build_hello_verify_request(
        seq, 0, DC_VERSION_DTLS10, dc::make_cookie(*key, id));
    if (!std::equal(hvr.begin(), hvr.end(), d.payload.begin()))
      fail_.add("HelloVerifyRequest differs from the reference",
                where + ": " + hex(d.payload) + " != " + hex(hvr));
    if (flood) check_flood_frame(where, f, d, hvr);

    check_window(where, gen, f.ns, fig);
  }

  static std::span<const uint8_t> cookie_bytes(const datagram& d) {
    return d.payload.subspan(DC_HVR_LEN - DC_COOKIE_LEN, DC_COOKIE_LEN);
  }

  // The load generator's request from this client, as bench_e2e flood
  // builds it, and the reply the library's model makes of it.
  void check_flood_frame(const std::string& where, const frame_view& f,
                         const datagram& d,
                         const std::array<uint8_t, DC_HVR_LEN>& hvr) {
    pk::udp_frame req;
    req.src_mac = d.dst_mac;
    req.dst_mac = d.src_mac;
    req.src_ip = d.dst_ip;
    req.dst_ip = d.src_ip;
    req.src_port = d.dst_port;
    req.dst_port = port_;
    req.payload = flood_payload_;
    const pk::bytes want =
        pk::build(pk::reply_to(req, pk::bytes(hvr.begin(), hvr.end())));
    if (f.wire_len != want.size() || f.bytes != want)
      fail_.add("reply frame differs from the model",
                where + ": " + hex(f.bytes) + " != " + hex(want));
  }

  // Published after lo of its own generation, and not yet retired: the
  // generation two later was not published before the capture.
  void check_window(const std::string& where, uint32_t gen, uint64_t t,
                    file_figures& fig) {
    const window* own = keys_.became_current(gen);
    if (own && own->lo && t <= own->lo) {
      fail_.add("captured before its key was published",
                where + ": generation " + std::to_string(gen) +
                    " published after " + std::to_string(own->lo));
      return;
    }
    const window* retired = keys_.became_current(gen + 2);
    if (retired && t > retired->hi) {
      fail_.add("captured after its key expired",
                where + ": generation " + std::to_string(gen + 2) +
                    " was published by " + std::to_string(retired->hi));
      return;
    }
    const window* next = keys_.became_current(gen + 1);
    if (!next || t <= next->lo)
      ++fig.while_current;
    else if (t > next->hi)
      ++fig.while_previous;
    else
      ++fig.at_rotation;
  }

  const key_history& keys_;
  uint16_t port_;
  failures& fail_;
  pk::client_hello flood_hello_;
  pk::bytes flood_payload_;
};

void print_figures(const char* kind, const std::string& path,
                   const file_figures& f) {
  std::printf(
      "%s %s: %llu frames, %llu HelloVerifyRequests checked (%llu while "
      "their key was current, %llu previous, %llu at a rotation; %llu sent "
      "by a server's stack over IPv4), %llu generations seen, %llu other "
      "frames\n",
      kind, path.c_str(), static_cast<unsigned long long>(f.frames),
      static_cast<unsigned long long>(f.checked),
      static_cast<unsigned long long>(f.while_current),
      static_cast<unsigned long long>(f.while_previous),
      static_cast<unsigned long long>(f.at_rotation),
      static_cast<unsigned long long>(f.v4_from_stack),
      static_cast<unsigned long long>(f.per_generation.size()),
      static_cast<unsigned long long>(f.other));
}

}  // namespace

int main(int argc, char** argv) {
  std::string key_log;
  std::vector<std::string> flood, client;
  uint16_t port = 4433;
  CLI::App app{"Checks captured HelloVerifyRequests against a key log."};
  app.add_option("--keys", key_log, "dc_stress_key_log output")->required();
  app.add_option("--flood", flood, "pcap on the flood's interface");
  app.add_option("--client", client, "tcpdump pcap on a real client's side");
  app.add_option("--port", port, "the server's UDP port")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  failures fail;
  uint64_t checked = 0;
  try {
    key_history keys;
    keys.load(key_log, fail);
    std::printf(
        "key sets logged: %zu, generations %u to %u (%u rotations), %llu "
        "polls, longest gap between polls %llu us, %llu reads retried\n",
        keys.sets(), keys.first_generation(), keys.last_generation(),
        keys.last_generation() - keys.first_generation(),
        static_cast<unsigned long long>(keys.polls()),
        static_cast<unsigned long long>(keys.max_gap_us()),
        static_cast<unsigned long long>(keys.retries()));
    checker c(keys, port, fail);
    for (const std::string& p : flood) {
      const file_figures f = c.check_file(p, true);
      print_figures("flood", p, f);
      checked += f.checked;
    }
    for (const std::string& p : client) {
      const file_figures f = c.check_file(p, false);
      print_figures("client", p, f);
      checked += f.checked;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dc_stress_check: %s\n", e.what());
    return 2;
  }
  for (const auto& [reason, n] : fail.by_reason)
    std::printf("failures: %s: %llu\n", reason.c_str(),
                static_cast<unsigned long long>(n));
  std::printf("checked %llu HelloVerifyRequests, %llu failures\n",
              static_cast<unsigned long long>(checked),
              static_cast<unsigned long long>(fail.total));
  return fail.total ? 1 : 0;
}
