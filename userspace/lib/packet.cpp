// Frame and ClientHello construction for tests, self-checks and load
// generation.
#include "dtls_cookie/packet.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/wire.hpp"

namespace dtls_cookie::packet {
namespace {

using wire::store_be;

void put16(bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}

void put24(bytes& b, uint32_t v) {
  b.push_back(uint8_t(v >> 16));
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}

void append(bytes& b, std::span<const uint8_t> s) {
  b.insert(b.end(), s.begin(), s.end());
}

constexpr uint8_t kIpprotoUdp = 17;

}  // namespace

ip_addr ip_addr::parse(std::string_view text) {
  const std::string s(text);
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return v4(buf);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return v6_bytes(buf);
  throw error("not an IPv4 or IPv6 address: '" + s + "'");
}

ip_addr ip_addr::v4(const uint8_t a[4]) {
  ip_addr r;
  r.mapped[10] = r.mapped[11] = 0xff;
  std::memcpy(r.mapped.data() + 12, a, 4);
  return r;
}

ip_addr ip_addr::v6_bytes(const uint8_t a[16]) {
  ip_addr r;
  r.v6 = true;
  std::memcpy(r.mapped.data(), a, 16);
  return r;
}

uint32_t csum_add(uint32_t sum, std::span<const uint8_t> data) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2)
    sum += uint32_t(data[i] << 8 | data[i + 1]);
  if (i < data.size()) sum += uint32_t(data[i] << 8);
  return sum;
}

uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

bytes build(const udp_frame& f) {
  if (f.src_ip.v6 != f.dst_ip.v6)
    throw error("frame mixes IPv4 and IPv6 addresses");
  bytes out;
  append(out, f.dst_mac);
  append(out, f.src_mac);
  for (const auto& v : f.vlans) {
    put16(out, v.tpid);
    put16(out, v.tci);
  }
  put16(out, f.src_ip.v6 ? 0x86dd : 0x0800);

  const uint16_t udp_len = uint16_t(8 + f.payload.size());
  bytes udp;
  put16(udp, f.src_port);
  put16(udp, f.dst_port);
  put16(udp, udp_len);
  put16(udp, 0);
  append(udp, f.payload);

  // Pseudo-header sum, then the UDP header and payload.
  uint32_t sum = 0;
  if (f.src_ip.v6) {
    sum = csum_add(sum, f.src_ip.mapped);
    sum = csum_add(sum, f.dst_ip.mapped);
    sum += udp_len;
  } else {
    sum = csum_add(sum, {f.src_ip.v4_bytes(), 4});
    sum = csum_add(sum, {f.dst_ip.v4_bytes(), 4});
    sum += udp_len;
  }
  sum += kIpprotoUdp;
  uint16_t check = uint16_t(~csum_fold(csum_add(sum, udp)));
  if (check == 0) check = 0xffff;
  if (f.udp_checksum) check = *f.udp_checksum;
  store_be<2>(&udp[6], check);

  if (f.src_ip.v6) {
    bytes ext;
    for (size_t i = 0; i < f.ipv6_ext.size(); ++i) {
      bytes h = f.ipv6_ext[i].data;
      if (h.size() < 8 || h.size() % 8 != 0)
        throw error("IPv6 extension header must be a multiple of 8 bytes");
      h[0] = i + 1 < f.ipv6_ext.size() ? f.ipv6_ext[i + 1].type : kIpprotoUdp;
      append(ext, h);
    }
    const uint8_t first =
        f.ipv6_ext.empty() ? kIpprotoUdp : f.ipv6_ext.front().type;
    bytes ip(4);
    store_be<4>(ip.data(), f.ipv6_vtc_flow);
    put16(ip, uint16_t(ext.size() + udp.size()));
    ip.push_back(first);
    ip.push_back(f.ttl);
    append(ip, f.src_ip.mapped);
    append(ip, f.dst_ip.mapped);
    append(out, ip);
    append(out, ext);
  } else {
    const size_t ihl = 5 + f.ipv4_options.size() / 4;
    if (f.ipv4_options.size() % 4 != 0 || ihl > 15)
      throw error("IPv4 options must be a multiple of 4, at most 40 bytes");
    bytes ip;
    ip.push_back(uint8_t(0x40 | ihl));
    ip.push_back(f.tos);
    put16(ip, uint16_t(ihl * 4 + udp.size()));
    put16(ip, f.id);
    put16(ip, f.frag_off);
    ip.push_back(f.ttl);
    ip.push_back(kIpprotoUdp);
    put16(ip, 0);
    append(ip, {f.src_ip.v4_bytes(), 4});
    append(ip, {f.dst_ip.v4_bytes(), 4});
    append(ip, f.ipv4_options);
    store_be<2>(&ip[10], uint16_t(~csum_fold(csum_add(0, ip))));
    append(out, ip);
  }
  append(out, udp);
  out.resize(out.size() + f.trailer, 0);
  return out;
}

extension supported_versions(std::initializer_list<uint16_t> versions) {
  extension e;
  e.type = DC_EXT_SUPPORTED_VERSIONS;
  e.data.push_back(uint8_t(versions.size() * 2));
  for (uint16_t v : versions) put16(e.data, v);
  return e;
}

bytes build(const client_hello& ch) {
  bytes body;
  put16(body, ch.client_version);
  append(body, ch.random);
  body.push_back(uint8_t(ch.session_id.size()));
  append(body, ch.session_id);
  body.push_back(uint8_t(ch.cookie.size()));
  append(body, ch.cookie);
  put16(body, uint16_t(ch.cipher_suites.size() * 2));
  for (uint16_t s : ch.cipher_suites) put16(body, s);
  body.push_back(uint8_t(ch.compression.size()));
  append(body, ch.compression);
  if (ch.extensions) {
    bytes ext;
    for (const auto& e : *ch.extensions) {
      put16(ext, e.type);
      put16(ext, uint16_t(e.data.size()));
      append(ext, e.data);
    }
    put16(body, uint16_t(ext.size()));
    append(body, ext);
  }

  const uint32_t frag_len = ch.fragment_length.value_or(uint32_t(body.size()));
  bytes out;
  out.push_back(ch.content_type);
  put16(out, ch.record_version);
  put16(out, ch.epoch);
  out.resize(out.size() + 6);
  store_be<6>(&out[5], ch.record_seq);
  put16(out, uint16_t(DC_HANDSHAKE_HEADER_LEN + body.size()));
  out.push_back(ch.msg_type);
  put24(out, uint32_t(body.size()));
  put16(out, ch.message_seq);
  put24(out, ch.fragment_offset.value_or(0));
  put24(out, frag_len);
  append(out, body);
  return out;
}

udp_frame reply_to(const udp_frame& request, bytes payload) {
  udp_frame r;
  r.src_mac = request.dst_mac;
  r.dst_mac = request.src_mac;
  r.vlans = request.vlans;
  r.src_ip = request.dst_ip;
  r.dst_ip = request.src_ip;
  r.tos = request.tos;
  r.id = request.id;
  r.frag_off = 0;
  r.ipv6_vtc_flow = request.ipv6_vtc_flow;
  r.ttl = 64;
  r.src_port = request.dst_port;
  r.dst_port = request.src_port;
  r.payload = std::move(payload);
  return r;
}

}  // namespace dtls_cookie::packet
