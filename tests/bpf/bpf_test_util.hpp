// Shared pieces of the kernel tests: loaded programs cached per
// configuration, fixed test keys, the usual request frames, the reply a
// request must get, and checksum checks written independently of both
// the program and the packet builder.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/responder.hpp"
#include "dtls_cookie/wire.hpp"

namespace dtls_cookie::testing {

namespace pk = dtls_cookie::packet;

inline constexpr uint16_t kPort = 4433;

// Loading needs CAP_BPF and CAP_NET_ADMIN; the suite runs as root.
#define DC_REQUIRE_ROOT()                               \
  do {                                                  \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root"; \
  } while (0)

// The default configuration of the tests: one port, the options' default
// policies, and two host addresses that are never anybody's source.
inline responder_options base_options() {
  responder_options o;
  o.ports = {kPort};
  o.local_addrs = {pk::ip_addr::parse("203.0.113.7").mapped,
                   pk::ip_addr::parse("2001:db8::7").mapped};
  return o;
}

// Loading verifies 30 000+ instructions; each configuration loads once
// per process.
inline const responder& program(const dc_config& cfg) {
  struct entry {
    dc_config cfg;
    responder prog;
  };
  static std::vector<std::unique_ptr<entry>> cache;
  for (const auto& e : cache)
    if (std::memcmp(&e->cfg, &cfg, sizeof cfg) == 0) return e->prog;
  cache.push_back(std::make_unique<entry>(entry{cfg, responder::load(cfg)}));
  return cache.back()->prog;
}

// Fixed keys, distinct per generation.
inline key test_key(uint32_t generation) {
  key k;
  k.generation = generation;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(generation * 37 + i * 11 + 5);
  return k;
}

inline pk::udp_frame v4_request(pk::bytes payload) {
  pk::udp_frame f;
  f.src_ip = pk::ip_addr::parse("192.0.2.10");
  f.dst_ip = pk::ip_addr::parse("198.51.100.1");
  f.dst_port = kPort;
  f.payload = std::move(payload);
  return f;
}

inline pk::udp_frame v6_request(pk::bytes payload) {
  pk::udp_frame f = v4_request(std::move(payload));
  f.src_ip = pk::ip_addr::parse("2001:db8:1::10");
  f.dst_ip = pk::ip_addr::parse("2001:db8::1");
  return f;
}

inline client_identity identity_of(const pk::udp_frame& f) {
  return client_identity_ipv6(f.src_ip.mapped.data(), htons(f.src_port));
}

// The cookie bytes a client sends back after an answer under k.
inline pk::bytes cookie_for(const key& k, const pk::udp_frame& f) {
  const dc_cookie c = make_cookie(k, identity_of(f));
  const auto* p = reinterpret_cast<const uint8_t*>(&c);
  return {p, p + sizeof c};
}

// The frame the responder must send for request: the builder's swapped
// headers around a HelloVerifyRequest carrying a fresh cookie under the
// current key and the ClientHello's full record sequence number.
inline pk::bytes reply_for(const pk::udp_frame& request, const key& current,
                           uint64_t record_seq,
                           uint16_t server_version = DC_VERSION_DTLS10) {
  const auto hvr = wire::build_hello_verify_request(
      record_seq, 0, server_version,
      make_cookie(current, identity_of(request)));
  return pk::build(pk::reply_to(request, {hvr.begin(), hvr.end()}));
}

// One's-complement sum of big-endian 16-bit words, folded.
inline uint16_t ones_sum(std::span<const uint8_t> d, uint32_t sum = 0) {
  for (size_t i = 0; i < d.size(); i += 2)
    sum += uint32_t(d[i]) << 8 | (i + 1 < d.size() ? d[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

// Checks the IPv4 header checksum (if any) and the UDP checksum of a
// reply frame, which must be a plain UDP datagram with no IPv4 options.
inline void expect_valid_checksums(std::span<const uint8_t> f) {
  ASSERT_GE(f.size(), 14u);
  size_t off = 12;
  uint16_t proto = uint16_t(f[off] << 8 | f[off + 1]);
  while (proto == 0x8100 || proto == 0x88a8) {
    off += 4;
    ASSERT_GE(f.size(), off + 2);
    proto = uint16_t(f[off] << 8 | f[off + 1]);
  }
  off += 2;
  std::vector<uint8_t> pseudo;
  size_t udp_off = 0;
  if (proto == 0x0800) {
    ASSERT_GE(f.size(), off + 20);
    ASSERT_EQ(f[off], 0x45) << "reply must carry a 20-byte IPv4 header";
    EXPECT_EQ(ones_sum(f.subspan(off, 20)), 0xffff) << "IPv4 header checksum";
    pseudo.assign(f.begin() + off + 12, f.begin() + off + 20);
    pseudo.push_back(0);
    pseudo.push_back(f[off + 9]);
    udp_off = off + 20;
  } else {
    ASSERT_EQ(proto, 0x86dd);
    ASSERT_GE(f.size(), off + 40);
    pseudo.assign(f.begin() + off + 8, f.begin() + off + 40);
    pseudo.insert(pseudo.end(), {0, 0});
    pseudo.push_back(0);
    pseudo.push_back(f[off + 6]);
    udp_off = off + 40;
  }
  ASSERT_GE(f.size(), udp_off + 8);
  const size_t udp_len = size_t(f[udp_off + 4] << 8 | f[udp_off + 5]);
  ASSERT_EQ(udp_off + udp_len, f.size()) << "reply must end with its UDP data";
  pseudo.push_back(uint8_t(udp_len >> 8));
  pseudo.push_back(uint8_t(udp_len));
  EXPECT_NE(f[udp_off + 6] | f[udp_off + 7], 0) << "UDP checksum must be set";
  const uint16_t s = ones_sum(pseudo);
  EXPECT_EQ(ones_sum(f.subspan(udp_off, udp_len), s), 0xffff) << "UDP checksum";
}

// The change of every counter across one call.
inline counters counter_delta(const counters& before, const counters& after) {
  counters d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = after[i] - before[i];
  return d;
}

}  // namespace dtls_cookie::testing
