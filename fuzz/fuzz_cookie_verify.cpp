// libFuzzer target: the reference API, cookie_send and cookie_verify, in
// SipHash mode and in the GnuTLS-compatible mode (against libgnutls
// itself), on arbitrary datagrams, keys, client data and prestates.
// The input's layout is struct header below, then the datagram.
#include <arpa/inet.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/wire.hpp"
#include "fuzz_util.hpp"

namespace {

namespace dc = dtls_cookie;
namespace gc = dtls_cookie::gnutls_compat;
using bytes = std::vector<uint8_t>;
using dc::fuzz::reader;

// Bits of the input's first byte.
constexpr uint8_t kGnutlsMode = 1;      // else SipHash mode
constexpr uint8_t kTwoKeys = 2;         // current and previous key
constexpr uint8_t kNoKeys = 4;          // an empty key set
constexpr uint8_t kIpv6 = 8;            // sockaddr_in6, else sockaddr_in
constexpr uint8_t kRawClientData = 16;  // the raw bytes, not a sockaddr
constexpr uint8_t kNullPrestate = 32;   // cookie_send without a prestate
constexpr uint8_t kDtls12Answer = 64;   // server_version 1.2, else 1.0

constexpr uint64_t kSentinel64 = 0xa5a5a5a5a5a5a5a5ull;
constexpr uint32_t kSentinel32 = 0xa5a5a5a5u;

// The input's fixed fields, in this order (fuzz/seeds.py writes them).
struct header {
  uint8_t flags;
  std::array<uint8_t, DC_KEY_LEN> key;
  uint32_t generation;
  std::array<uint8_t, DC_KEY_LEN> previous_key;
  uint32_t previous_generation;
  uint8_t gnutls_key_len;  // modulo 33: 0 to 32 bytes of key || previous
  std::array<uint8_t, 16> addr;
  uint16_t port_be;
  uint64_t record_seq;
  uint32_t hsk_read_seq;
  uint32_t hsk_write_seq;
  int32_t push_return;
  uint8_t raw_client_data_len;
};

header read_header(reader& in) {
  header h;
  h.flags = in.take<uint8_t>();
  in.take_into(h.key.data(), h.key.size());
  h.generation = in.take<uint32_t>();
  in.take_into(h.previous_key.data(), h.previous_key.size());
  h.previous_generation = in.take<uint32_t>();
  h.gnutls_key_len = in.take<uint8_t>();
  in.take_into(h.addr.data(), h.addr.size());
  h.port_be = in.take<uint16_t>();
  h.record_seq = in.take<uint64_t>();
  h.hsk_read_seq = in.take<uint32_t>();
  h.hsk_write_seq = in.take<uint32_t>();
  h.push_return = in.take<int32_t>();
  h.raw_client_data_len = in.take<uint8_t>();
  return h;
}

uint64_t field(const uint8_t* p, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; ++i) v = v << 8 | p[i];
  return v;
}

void put(uint8_t* p, size_t len, uint64_t v) {
  for (size_t i = len; i-- > 0; v >>= 8) p[i] = uint8_t(v);
}

bytes sockaddr_bytes(bool v6, const std::array<uint8_t, 16>& addr,
                     uint16_t port_be) {
  if (v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = port_be;
    std::memcpy(&sa.sin6_addr, addr.data(), 16);
    const auto* p = reinterpret_cast<const uint8_t*>(&sa);
    return bytes(p, p + sizeof sa);
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = port_be;
  std::memcpy(&sa.sin_addr, addr.data(), 4);
  const auto* p = reinterpret_cast<const uint8_t*>(&sa);
  return bytes(p, p + sizeof sa);
}

// Records what a send pushed and answers with a chosen value.
struct sink {
  ssize_t reply = 0;
  bytes pushed;
  int calls = 0;
};

ssize_t sink_push(void* ptr, const void* data, size_t size) {
  auto* s = static_cast<sink*>(ptr);
  const auto* p = static_cast<const uint8_t*>(data);
  s->pushed.assign(p, p + size);
  ++s->calls;
  return s->reply;
}

// What cookie_verify's contract makes of a parse failure.
int verify_code(dc::wire::reject_reason r) {
  using R = dc::wire::reject_reason;
  if (r == R::truncated || r == R::bad_length || r == R::session_id_too_long)
    return dc::kErrUnexpectedPacketLength;
  return dc::kErrUnexpectedPacket;
}

bool untouched(const dc::prestate& p) {
  return p.record_seq == kSentinel64 && p.hsk_read_seq == kSentinel32 &&
         p.hsk_write_seq == kSentinel32;
}

dc::prestate sentinel() { return {kSentinel64, kSentinel32, kSentinel32}; }

// The datagram with its cookie replaced, lengths kept consistent; empty
// when it is not a ClientHello or the record would outgrow its length.
bytes with_cookie(const bytes& d, std::span<const uint8_t> cookie) {
  const auto p =
      dc::wire::parse_client_hello(d, dc::wire::parse_depth::up_to_cookie);
  if (!p.ok()) return {};
  const size_t at = p.hello.cookie_len_offset;
  const size_t old_len = p.hello.cookie.size();
  const size_t record_len = p.hello.record.length - old_len + cookie.size();
  if (record_len > 0xffff) return {};
  const size_t message_len = p.hello.handshake.length - old_len + cookie.size();

  bytes out(d.begin(), d.begin() + at);
  out.push_back(uint8_t(cookie.size()));
  out.insert(out.end(), cookie.begin(), cookie.end());
  out.insert(out.end(), d.begin() + at + 1 + old_len, d.end());
  put(&out[11], 2, record_len);
  put(&out[14], 3, message_len);
  put(&out[22], 3, message_len);
  return out;
}

// A minimal DTLS 1.2 ClientHello carrying the cookie, for inputs whose
// datagram is not a ClientHello.
bytes minimal_hello(uint64_t record_seq, uint16_t message_seq,
                    std::span<const uint8_t> cookie) {
  bytes m = {0xfe, 0xfd};
  m.resize(2 + DC_RANDOM_LEN, 0x11);
  m.push_back(0);  // session_id
  m.push_back(uint8_t(cookie.size()));
  m.insert(m.end(), cookie.begin(), cookie.end());
  for (uint8_t b : {0x00, 0x02, 0xc0, 0x2b, 0x01, 0x00}) m.push_back(b);

  bytes d(DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN, 0);
  d[0] = DC_CONTENT_HANDSHAKE;
  put(&d[1], 2, DC_VERSION_DTLS12);
  put(&d[5], 6, record_seq);
  put(&d[11], 2, DC_HANDSHAKE_HEADER_LEN + m.size());
  d[13] = DC_HS_CLIENT_HELLO;
  put(&d[14], 3, m.size());
  put(&d[17], 2, message_seq);
  put(&d[22], 3, m.size());
  d.insert(d.end(), m.begin(), m.end());
  return d;
}

void siphash_mode(const header& h, const bytes& client_data,
                  const bytes& datagram) {
  dc::key_set keys;
  if (!(h.flags & kNoKeys)) {
    const dc::key current{h.generation, h.key, 0};
    const dc::key previous{h.previous_generation, h.previous_key, 0};
    // Equal generations would make the previous key unreachable by name.
    keys = (h.flags & kTwoKeys) && h.generation != h.previous_generation
               ? dc::key_set(current, previous)
               : dc::key_set(current);
  }
  const auto id =
      dc::client_identity_from_sockaddr(client_data.data(), client_data.size());
  if (!(h.flags & kRawClientData)) {
    FUZZ_CHECK(id.has_value());
    FUZZ_CHECK(id->port_be == h.port_be);
    if (h.flags & kIpv6) {
      FUZZ_CHECK(std::memcmp(id->addr.data(), h.addr.data(), 16) == 0);
    } else {
      // IPv4 as ::ffff:a.b.c.d.
      static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                         0, 0, 0, 0, 0xff, 0xff};
      FUZZ_CHECK(std::memcmp(id->addr.data(), mapped, 12) == 0);
      FUZZ_CHECK(std::memcmp(id->addr.data() + 12, h.addr.data(), 4) == 0);
    }
  }

  // Verify the datagram as it came.
  dc::prestate ps = sentinel();
  const int rc =
      dc::cookie_verify(&keys, client_data.data(), client_data.size(),
                        datagram.data(), datagram.size(), &ps);
  if (keys.empty() || !id) {
    FUZZ_CHECK(rc == dc::kErrInvalidRequest && untouched(ps));
  } else {
    const auto p = dc::wire::parse_client_hello(
        datagram, dc::wire::parse_depth::up_to_cookie);
    if (!p.ok()) {
      FUZZ_CHECK(rc == verify_code(*p.reason) && untouched(ps));
    } else {
      const bool valid =
          dc::is_valid(dc::check_cookie(keys, *id, p.hello.cookie));
      FUZZ_CHECK(rc == (valid ? dc::kSuccess : dc::kErrBadCookie));
      FUZZ_CHECK(ps.record_seq == field(datagram.data() + 5, 6));
      FUZZ_CHECK(ps.hsk_read_seq == field(datagram.data() + 17, 2));
      FUZZ_CHECK(ps.hsk_write_seq == 0);
    }
  }

  // Send: the HelloVerifyRequest's every field, byte by byte.
  const dc::prestate in{h.record_seq, h.hsk_read_seq, h.hsk_write_seq};
  const bool null_prestate = h.flags & kNullPrestate;
  const uint16_t version =
      (h.flags & kDtls12Answer) ? DC_VERSION_DTLS12 : DC_VERSION_DTLS10;
  sink out{h.push_return, {}, 0};
  const int src =
      dc::cookie_send(&keys, client_data.data(), client_data.size(),
                      null_prestate ? nullptr : &in, &out, sink_push, version);
  if (keys.empty() || !id) {
    FUZZ_CHECK(src == dc::kErrInvalidRequest && out.calls == 0);
    return;
  }
  FUZZ_CHECK(out.calls == 1);
  FUZZ_CHECK(src == (h.push_return < 0 ? dc::kErrPushError : h.push_return));
  const bytes& hvr = out.pushed;
  FUZZ_CHECK(hvr.size() == DC_HVR_LEN);
  const uint8_t* r = hvr.data();
  const uint64_t seq = null_prestate ? 0 : h.record_seq & 0xffffffffffffull;
  const uint64_t msg_seq = null_prestate ? 0 : h.hsk_write_seq & 0xffff;
  FUZZ_CHECK(r[0] == DC_CONTENT_HANDSHAKE && field(r + 1, 2) == version);
  FUZZ_CHECK(field(r + 3, 2) == 0 && field(r + 5, 6) == seq);
  FUZZ_CHECK(field(r + 11, 2) == DC_HVR_LEN - DC_RECORD_HEADER_LEN);
  FUZZ_CHECK(r[13] == DC_HS_HELLO_VERIFY_REQUEST);
  FUZZ_CHECK(field(r + 14, 3) == DC_HVR_BODY_LEN);
  FUZZ_CHECK(field(r + 17, 2) == msg_seq && field(r + 19, 3) == 0);
  FUZZ_CHECK(field(r + 22, 3) == DC_HVR_BODY_LEN);
  FUZZ_CHECK(field(r + 25, 2) == version && r[27] == DC_COOKIE_LEN);
  const dc_cookie made = dc::make_cookie(*keys.current(), *id);
  FUZZ_CHECK(std::memcmp(r + 28, &made, DC_COOKIE_LEN) == 0);
  FUZZ_CHECK(field(r + 28, 4) == keys.current()->generation);

  // The cookie, echoed in a ClientHello, verifies for its client and no
  // other. The datagram carries it when it is a ClientHello.
  const std::span<const uint8_t> cookie(r + 28, DC_COOKIE_LEN);
  bytes hello = with_cookie(datagram, cookie);
  if (hello.empty())
    hello = minimal_hello(h.record_seq, uint16_t(h.hsk_read_seq), cookie);
  ps = sentinel();
  FUZZ_CHECK(dc::cookie_verify(&keys, client_data.data(), client_data.size(),
                               hello.data(), hello.size(),
                               &ps) == dc::kSuccess);
  FUZZ_CHECK(ps.record_seq == field(hello.data() + 5, 6));
  FUZZ_CHECK(ps.hsk_read_seq == field(hello.data() + 17, 2));
  FUZZ_CHECK(ps.hsk_write_seq == 0);

  // The same client in the other address family's spelling.
  const bytes same = sockaddr_bytes(true, id->addr, id->port_be);
  FUZZ_CHECK(dc::cookie_verify(&keys, same.data(), same.size(), hello.data(),
                               hello.size(), &ps) == dc::kSuccess);

  // Another port, another address: a bad cookie, prestate still filled.
  const bytes other_port = sockaddr_bytes(true, id->addr, id->port_be ^ 1);
  ps = sentinel();
  FUZZ_CHECK(dc::cookie_verify(&keys, other_port.data(), other_port.size(),
                               hello.data(), hello.size(),
                               &ps) == dc::kErrBadCookie);
  FUZZ_CHECK(ps.record_seq == field(hello.data() + 5, 6));
  std::array<uint8_t, 16> other_addr = id->addr;
  other_addr[15 - (h.flags >> 7)] ^= 0x80;
  const bytes other = sockaddr_bytes(true, other_addr, id->port_be);
  FUZZ_CHECK(dc::cookie_verify(&keys, other.data(), other.size(), hello.data(),
                               hello.size(), &ps) == dc::kErrBadCookie);

  // One rotation keeps it valid as the previous key's; two forget it.
  dc::key_set rotated = keys;
  const dc::key next{keys.current()->generation + 1, h.previous_key, 0};
  rotated.rotate(next);
  FUZZ_CHECK(dc::check_cookie(rotated, *id, cookie) ==
             dc::cookie_status::valid_previous);
  rotated.rotate({next.generation + 1, h.key, 0});
  FUZZ_CHECK(dc::cookie_verify(&rotated, client_data.data(), client_data.size(),
                               hello.data(), hello.size(),
                               &ps) == dc::kErrBadCookie);
}

void gnutls_mode(const header& h, const bytes& client_data,
                 const bytes& datagram) {
  // Key bytes: the key field, then the previous key field, so up to 32.
  uint8_t key_bytes[2 * DC_KEY_LEN];
  std::memcpy(key_bytes, h.key.data(), DC_KEY_LEN);
  std::memcpy(key_bytes + DC_KEY_LEN, h.previous_key.data(), DC_KEY_LEN);
  const size_t key_len = h.gnutls_key_len % (sizeof key_bytes + 1);
  const gc::datum key{key_bytes, key_len};
  gnutls_datum_t gkey{key_bytes, unsigned(key_len)};
  auto* cd = const_cast<uint8_t*>(client_data.data());
  auto* msg = const_cast<uint8_t*>(datagram.data());

  // Verify: every return code and prestate as libgnutls's.
  dc::prestate ps = sentinel();
  gnutls_dtls_prestate_st gps;
  std::memset(&gps, 0xa5, sizeof gps);
  const int rc = gc::cookie_verify(&key, cd, client_data.size(), msg,
                                   datagram.size(), &ps);
  const int grc = gnutls_dtls_cookie_verify(&gkey, cd, client_data.size(), msg,
                                            datagram.size(), &gps);
  FUZZ_CHECK(rc == grc);
  if (rc == 0) {
    FUZZ_CHECK(ps.record_seq == gps.record_seq && ps.record_seq == msg[10]);
    FUZZ_CHECK(ps.hsk_read_seq == gps.hsk_read_seq);
    FUZZ_CHECK(ps.hsk_read_seq == msg[DC_RECORD_HEADER_LEN + 5]);
    FUZZ_CHECK(ps.hsk_write_seq == 0 && gps.hsk_write_seq == 0);
  } else {
    FUZZ_CHECK(untouched(ps));
  }

  // Send: the same bytes and return code as libgnutls.
  const dc::prestate in{h.record_seq, h.hsk_read_seq, h.hsk_write_seq};
  gnutls_dtls_prestate_st gin{unsigned(h.record_seq), h.hsk_read_seq,
                              h.hsk_write_seq};
  sink out{h.push_return, {}, 0};
  sink gout{h.push_return, {}, 0};
  const int src =
      gc::cookie_send(&key, cd, client_data.size(), &in, &out, sink_push);
  const int gsrc = gnutls_dtls_cookie_send(&gkey, cd, client_data.size(), &gin,
                                           &gout, sink_push);
  FUZZ_CHECK(src == gsrc && out.calls == gout.calls);
  FUZZ_CHECK(out.pushed == gout.pushed);
  if (key_len == 0) {
    FUZZ_CHECK(src == dc::kErrInvalidRequest && out.calls == 0);
    return;
  }
  FUZZ_CHECK(out.calls == 1 && out.pushed.size() == gc::kRecordLen);

  // The cookie at GnuTLS's fixed offsets in the datagram verifies for
  // this client data and key only.
  const uint8_t* mac = out.pushed.data() + gc::kRecordLen - gc::kCookieLen;
  bytes hello = datagram;
  if (hello.size() < DC_OFF_SESSION_ID_LEN + 1)
    hello.resize(DC_OFF_SESSION_ID_LEN + 1);
  const size_t sid_len = hello[DC_OFF_SESSION_ID_LEN] % 33;
  hello[DC_OFF_SESSION_ID_LEN] = uint8_t(sid_len);
  const size_t at = DC_OFF_SESSION_ID_LEN + 1 + sid_len;
  if (hello.size() < at + 1 + gc::kCookieLen + 1)
    hello.resize(at + 1 + gc::kCookieLen + 1);
  hello[at] = gc::kCookieLen;
  std::memcpy(&hello[at + 1], mac, gc::kCookieLen);

  ps = sentinel();
  FUZZ_CHECK(gc::cookie_verify(&key, cd, client_data.size(), hello.data(),
                               hello.size(), &ps) == dc::kSuccess);
  FUZZ_CHECK(ps.record_seq == hello[10] && ps.hsk_read_seq == hello[18]);
  bytes other = client_data;
  other.push_back(0);
  FUZZ_CHECK(gc::cookie_verify(&key, other.data(), other.size(), hello.data(),
                               hello.size(), &ps) == dc::kErrBadCookie);
  key_bytes[0] ^= 1;
  FUZZ_CHECK(gc::cookie_verify(&key, cd, client_data.size(), hello.data(),
                               hello.size(), &ps) == dc::kErrBadCookie);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reader in({data, size});
  const header h = read_header(in);
  const bytes client_data =
      (h.flags & kRawClientData)
          ? in.bytes(h.raw_client_data_len)
          : sockaddr_bytes(h.flags & kIpv6, h.addr, h.port_be);
  const bytes datagram = in.rest();
  if (h.flags & kGnutlsMode)
    gnutls_mode(h, client_data, datagram);
  else
    siphash_mode(h, client_data, datagram);
  return 0;
}
