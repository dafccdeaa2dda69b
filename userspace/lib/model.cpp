// The userspace model of the XDP responder. It reads like the program's
// decision list on purpose, one step per step, so a disagreement with the
// kernel points at one rule.
#include "dtls_cookie/model.hpp"

#include <linux/bpf.h>
#include <time.h>

#include <cstring>
#include <optional>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/wire.hpp"

namespace dtls_cookie::model {
namespace {

using wire::load_be;

constexpr uint16_t kEthIp = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint8_t kUdp = 17;

bool is_vlan(uint16_t proto) { return proto == 0x8100 || proto == 0x88a8; }

uint32_t policy_verdict(uint8_t policy) {
  return policy == DC_POLICY_DROP ? XDP_DROP : XDP_PASS;
}

bool port_configured(const dc_config& cfg, uint16_t port) {
  return (cfg.port_bitmap[port >> 6] >> (port & 63)) & 1;
}

bool bad_source(const dc_config& cfg, const packet::udp_frame& f) {
  if (f.src_mac[0] & 1) return true;
  if (f.src_port == 0) return true;
  const auto& s = f.src_ip.mapped;
  if (f.src_ip.v6) {
    static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                              0, 0, 0, 0, 0xff, 0xff};
    bool zero12 = true;
    for (int i = 0; i < 15; ++i) zero12 = zero12 && s[i] == 0;
    if (zero12 && (s[15] == 0 || s[15] == 1)) return true;  // :: and ::1
    if (s[0] == 0xff) return true;
    if (std::memcmp(s.data(), kMappedPrefix, 12) == 0) return true;
  } else {
    const uint8_t a = s[12];
    if (a == 0 || a == 127 || a >= 224) return true;
  }
  if (f.src_ip == f.dst_ip) return true;
  for (uint32_t i = 0; i < cfg.local_addr_count && i < DC_MAX_LOCAL_ADDRS; ++i)
    if (std::memcmp(cfg.local_addrs[i], s.data(), 16) == 0) return true;
  return false;
}

outcome finish(std::span<const uint8_t> frame, uint32_t verdict,
               dc_counter reason) {
  return {verdict, reason, {frame.begin(), frame.end()}};
}

// The reply frame: swapped headers around the HelloVerifyRequest.
std::vector<uint8_t> answer(const dc_config& cfg, const key& current,
                            const packet::udp_frame& request,
                            const wire::client_hello& ch) {
  const client_identity id{request.src_ip.mapped, htobe16(request.src_port)};
  const auto hvr = wire::build_hello_verify_request(
      ch.record.sequence, 0, cfg.server_version, make_cookie(current, id));
  return packet::build(packet::reply_to(request, {hvr.begin(), hvr.end()}));
}

}  // namespace

dc_counter verdict_counter(uint32_t verdict) {
  switch (verdict) {
    case XDP_PASS:
      return DC_CNT_XDP_PASS;
    case XDP_DROP:
      return DC_CNT_XDP_DROP;
    case XDP_TX:
      return DC_CNT_XDP_TX;
    default:
      return DC_CNT_XDP_ABORTED;
  }
}

const char* counter_name(dc_counter c) {
  switch (c) {
    case DC_CNT_XDP_PASS:
      return "xdp_pass";
    case DC_CNT_XDP_DROP:
      return "xdp_drop";
    case DC_CNT_XDP_TX:
      return "xdp_tx";
    case DC_CNT_XDP_ABORTED:
      return "xdp_aborted";
    case DC_CNT_NOT_OURS:
      return "not_ours";
    case DC_CNT_ANSWERED_NO_COOKIE:
      return "answered_no_cookie";
    case DC_CNT_ANSWERED_BAD_COOKIE:
      return "answered_bad_cookie";
    case DC_CNT_VALID_COOKIE_CURRENT:
      return "valid_cookie_current";
    case DC_CNT_VALID_COOKIE_PREVIOUS:
      return "valid_cookie_previous";
    case DC_CNT_BAD_SOURCE:
      return "bad_source";
    case DC_CNT_ESTABLISHED:
      return "established";
    case DC_CNT_FRAGMENTED:
      return "fragmented";
    case DC_CNT_DTLS13:
      return "dtls13";
    case DC_CNT_MALFORMED:
      return "malformed";
    case DC_CNT_NO_KEYS:
      return "no_keys";
    case DC_CNT_TX_FAILED:
      return "tx_failed";
    case DC_CNT_RATE_LIMITED:
      return "rate_limited";
    case DC_CNT_MAX:
      break;
  }
  return "unknown";
}

const char* verdict_name(uint32_t verdict) {
  switch (verdict) {
    case XDP_ABORTED:
      return "XDP_ABORTED";
    case XDP_DROP:
      return "XDP_DROP";
    case XDP_PASS:
      return "XDP_PASS";
    case XDP_TX:
      return "XDP_TX";
    case XDP_REDIRECT:
      return "XDP_REDIRECT";
  }
  return "XDP_?";
}

reply_key reply_key_of(const dc_config& cfg, const packet::ip_addr& dst) {
  // An IPv4 prefix counts in the IPv4 part of ::ffff:a.b.c.d.
  const unsigned keep =
      dst.v6 ? cfg.reply_limit.prefix6 : 96u + cfg.reply_limit.prefix4;
  reply_key k = dst.mapped;
  for (unsigned bit = keep; bit < 128; ++bit)
    k[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
  return k;
}

uint64_t reply_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

reply_decision reply_take(const dc_config& cfg,
                          const std::optional<dc_reply_bucket>& bucket,
                          uint64_t now_ns) {
  const dc_reply_limit& lim = cfg.reply_limit;
  const uint64_t cap = uint64_t(lim.burst) * DC_REPLY_TOKEN;
  // A new destination starts with a full bucket.
  if (!bucket) return {true, {cap - DC_REPLY_TOKEN, now_ns}};
  dc_reply_bucket b = *bucket;
  if (now_ns > b.last_ns) {
    // Wide enough that nothing is clamped but the bucket's cap.
    const unsigned __int128 refilled =
        (unsigned __int128)b.tokens +
        (unsigned __int128)(now_ns - b.last_ns) * lim.rate;
    b.tokens = refilled > cap ? cap : uint64_t(refilled);
    b.last_ns = now_ns;
  }
  if (b.tokens < DC_REPLY_TOKEN) return {false, *bucket};
  b.tokens -= DC_REPLY_TOKEN;
  return {true, b};
}

outcome run(const dc_config& cfg, const key_set& keys,
            std::span<const uint8_t> frame) {
  reply_limit_state fresh;
  return run(cfg, keys, frame, fresh);
}

outcome run(const dc_config& cfg, const key_set& keys,
            std::span<const uint8_t> frame, reply_limit_state& limit) {
  const auto not_ours = [&] {
    return finish(frame, XDP_PASS, DC_CNT_NOT_OURS);
  };
  const size_t n = frame.size();
  const uint8_t* d = frame.data();
  packet::udp_frame req;

  // 1. Ethernet and up to two VLAN tags.
  if (n < 14) return not_ours();
  std::memcpy(req.dst_mac.data(), d, 6);
  std::memcpy(req.src_mac.data(), d + 6, 6);
  uint16_t proto = uint16_t(load_be<2>(d + 12));
  size_t off = 14;
  for (int i = 0; i < 2 && is_vlan(proto); ++i) {
    if (n < off + 4) return not_ours();
    req.vlans.push_back({proto, uint16_t(load_be<2>(d + off))});
    proto = uint16_t(load_be<2>(d + off + 2));
    off += 4;
  }

  // 2. IPv4 or IPv6, then UDP.
  size_t ip_end = 0;
  if (proto == kEthIp) {
    if (n < off + 20) return not_ours();
    const uint8_t* ip = d + off;
    const size_t ihl = ip[0] & 0x0f;
    if ((ip[0] >> 4) != 4 || ihl < 5 || n < off + ihl * 4) return not_ours();
    if (ip[9] != kUdp) return not_ours();
    if (load_be<2>(ip + 6) & 0x3fff) return not_ours();  // MF or offset
    req.src_ip = packet::ip_addr::v4(ip + 12);
    req.dst_ip = packet::ip_addr::v4(ip + 16);
    req.tos = ip[1];
    req.id = uint16_t(load_be<2>(ip + 4));
    ip_end = off + load_be<2>(ip + 2);
    off += ihl * 4;
  } else if (proto == kEthIpv6) {
    if (n < off + 40) return not_ours();
    const uint8_t* ip = d + off;
    if (ip[6] != kUdp) return not_ours();
    req.src_ip = packet::ip_addr::v6_bytes(ip + 8);
    req.dst_ip = packet::ip_addr::v6_bytes(ip + 24);
    req.ipv6_vtc_flow = uint32_t(load_be<4>(ip));
    ip_end = off + 40 + load_be<2>(ip + 4);
    off += 40;
  } else {
    return not_ours();
  }
  if (n < off + 8) return not_ours();
  const uint8_t* udp = d + off;
  req.src_port = uint16_t(load_be<2>(udp));
  req.dst_port = uint16_t(load_be<2>(udp + 2));

  // 3. Our ports only.
  if (!port_configured(cfg, req.dst_port)) return not_ours();

  // 4. Sources that cannot be a real client.
  if (bad_source(cfg, req)) return finish(frame, XDP_DROP, DC_CNT_BAD_SOURCE);

  // 5. The UDP payload, bounded by the UDP length.
  const size_t udp_len = load_be<2>(udp + 4);
  if (udp_len < 8 || off + udp_len > ip_end || off + udp_len > n)
    return finish(frame, policy_verdict(cfg.policy_malformed),
                  DC_CNT_MALFORMED);
  const std::span<const uint8_t> payload(udp + 8, udp_len - 8);

  // 6. What the datagram is.
  const auto cls = wire::classify(payload);
  switch (cls.cls) {
    case wire::datagram_class::established:
      return finish(frame, policy_verdict(cfg.policy_established),
                    DC_CNT_ESTABLISHED);
    case wire::datagram_class::fragmented:
      return finish(frame, policy_verdict(cfg.policy_fragmented),
                    DC_CNT_FRAGMENTED);
    case wire::datagram_class::malformed:
      return finish(frame, policy_verdict(cfg.policy_malformed),
                    DC_CNT_MALFORMED);
    case wire::datagram_class::client_hello:
      break;
  }

  // 7. The cookie.
  if (keys.empty())
    return finish(frame, policy_verdict(cfg.policy_no_keys), DC_CNT_NO_KEYS);
  const client_identity id{req.src_ip.mapped, htobe16(req.src_port)};
  switch (check_cookie(keys, id, cls.parsed.hello.cookie)) {
    case cookie_status::valid_current:
      return finish(frame, XDP_PASS, DC_CNT_VALID_COOKIE_CURRENT);
    case cookie_status::valid_previous:
      return finish(frame, XDP_PASS, DC_CNT_VALID_COOKIE_PREVIOUS);
    default:
      break;
  }

  // 8. The rest of the ClientHello decides between answer, DTLS 1.3 and
  // malformed.
  const auto full = wire::parse_client_hello(payload, wire::parse_depth::full);
  if (!full.ok())
    return finish(frame, policy_verdict(cfg.policy_malformed),
                  DC_CNT_MALFORMED);
  dc_counter reason = full.hello.cookie.empty() ? DC_CNT_ANSWERED_NO_COOKIE
                                                : DC_CNT_ANSWERED_BAD_COOKIE;
  if (full.hello.offers_dtls13) {
    if (cfg.policy_dtls13 != DC_POLICY_ANSWER)
      return finish(frame, policy_verdict(cfg.policy_dtls13), DC_CNT_DTLS13);
    reason = DC_CNT_DTLS13;
  }

  // 9. The reply rate limit of the destination's prefix.
  if (cfg.reply_limit.rate != 0) {
    limit.asked = reply_key_of(cfg, req.src_ip);
    const reply_decision taken = reply_take(cfg, limit.bucket, limit.now_ns);
    limit.bucket = taken.bucket;
    if (!taken.allowed) return finish(frame, XDP_DROP, DC_CNT_RATE_LIMITED);
  }

  // 10. The answer.
  return {XDP_TX, reason, answer(cfg, *keys.current(), req, full.hello)};
}

}  // namespace dtls_cookie::model
