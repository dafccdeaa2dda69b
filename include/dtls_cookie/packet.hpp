// A small builder for the frames the responder sees and sends: Ethernet
// with up to two VLAN tags, IPv4 (with options) or IPv6, UDP, and DTLS
// ClientHellos of any shape. Shared by the tests, the agent's self-check
// and the load generator, so every one of them speaks the same bytes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "dtls_cookie/abi/abi.h"

namespace dtls_cookie::packet {

using bytes = std::vector<uint8_t>;
using mac_addr = std::array<uint8_t, 6>;

// An IPv4 or IPv6 address; IPv4 is held as its IPv4-mapped IPv6 form.
struct ip_addr {
  bool v6 = false;
  std::array<uint8_t, 16> mapped{};

  // Parses "192.0.2.1" or "2001:db8::1"; throws dtls_cookie::error.
  static ip_addr parse(std::string_view text);
  static ip_addr v4(const uint8_t a[4]);
  static ip_addr v6_bytes(const uint8_t a[16]);
  const uint8_t* v4_bytes() const { return mapped.data() + 12; }
  bool operator==(const ip_addr&) const = default;
};

struct vlan_tag {
  uint16_t tpid = 0x8100;  // 0x8100 (802.1Q) or 0x88a8 (802.1ad)
  uint16_t tci = 0;
};

struct udp_frame {
  mac_addr src_mac{0x02, 0, 0, 0, 0, 0x01};
  mac_addr dst_mac{0x02, 0, 0, 0, 0, 0x02};
  std::vector<vlan_tag> vlans;
  ip_addr src_ip = ip_addr::parse("192.0.2.10");
  ip_addr dst_ip = ip_addr::parse("198.51.100.1");
  // IPv4 only.
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  uint16_t frag_off = 0x4000;  // DF
  bytes ipv4_options;          // padded to 4 bytes by the caller
  // IPv6 only: version/traffic class/flow label word, host order.
  uint32_t ipv6_vtc_flow = 0x60000000;
  // Extension headers in front of UDP: each its protocol number and its
  // whole header, whose first (next header) byte the builder fills in.
  struct ipv6_ext_header {
    uint8_t type = 0;  // 0 hop-by-hop, 60 destination options, ...
    bytes data;        // 8 * (1 + data[1]) bytes
  };
  std::vector<ipv6_ext_header> ipv6_ext;
  uint8_t ttl = 64;  // hop limit for IPv6
  uint16_t src_port = 40000;
  uint16_t dst_port = 4433;
  bytes payload;
  // Overrides the computed UDP checksum (for example 0, or a partial one).
  std::optional<uint16_t> udp_checksum;
  // Bytes after the IP packet, as Ethernet padding of short frames.
  size_t trailer = 0;
};

bytes build(const udp_frame& f);

struct extension {
  uint16_t type = 0;
  bytes data;
};

// supported_versions in its ClientHello form.
extension supported_versions(std::initializer_list<uint16_t> versions);

struct client_hello {
  uint8_t content_type = DC_CONTENT_HANDSHAKE;
  uint16_t record_version = DC_VERSION_DTLS12;
  uint16_t epoch = 0;
  uint64_t record_seq = 0;
  uint8_t msg_type = DC_HS_CLIENT_HELLO;
  uint16_t message_seq = 0;
  // Fragment fields; empty means unfragmented (offset 0, length = length).
  std::optional<uint32_t> fragment_offset;
  std::optional<uint32_t> fragment_length;
  uint16_t client_version = DC_VERSION_DTLS12;
  std::array<uint8_t, 32> random{};
  bytes session_id;
  bytes cookie;
  std::vector<uint16_t> cipher_suites{0xc02b, 0xc02f, 0x009c};
  bytes compression{0};
  // Empty: no extension block at all.
  std::optional<std::vector<extension>> extensions;
};

// The DTLS datagram (one record) for a ClientHello.
bytes build(const client_hello& ch);

// The reply the responder sends for a request frame: addresses and ports
// swapped, VLAN tags kept, IPv4 without options, TTL/hop limit 64, and the
// given UDP payload. Checksums computed from scratch.
udp_frame reply_to(const udp_frame& request, bytes payload);

// The Internet checksum (RFC 1071) of data, folded, not inverted.
uint32_t csum_add(uint32_t sum, std::span<const uint8_t> data);
uint16_t csum_fold(uint32_t sum);

}  // namespace dtls_cookie::packet
