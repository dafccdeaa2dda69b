// The reference send/verify pair: SipHash cookies bound to the client's
// address and port (the kernel's cookie), and the GnuTLS-compatible
// HMAC-SHA1 mode.
#include "dtls_cookie/cookie.hpp"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

#include "dtls_cookie/abi/siphash.h"
#include "dtls_cookie/wire.hpp"

namespace dtls_cookie {

const char* strerror(int code) noexcept {
  switch (code) {
    case kSuccess:
      return "success";
    case kErrUnexpectedPacketLength:
      return "datagram truncated or its lengths disagree";
    case kErrUnexpectedPacket:
      return "datagram is not an unfragmented epoch-0 ClientHello";
    case kErrInvalidRequest:
      return "invalid request: missing key, null buffer or bad client data";
    case kErrPushError:
      return "push function failed";
    case kErrBadCookie:
      return "cookie absent or not valid";
    default:
      return code >= 0 ? "success" : "unknown error";
  }
}

client_identity client_identity_ipv4(const uint8_t addr[4],
                                     uint16_t port_be) noexcept {
  client_identity id;
  id.addr[10] = 0xff;
  id.addr[11] = 0xff;
  std::memcpy(id.addr.data() + 12, addr, 4);
  id.port_be = port_be;
  return id;
}

client_identity client_identity_ipv6(const uint8_t addr[16],
                                     uint16_t port_be) noexcept {
  client_identity id;
  std::memcpy(id.addr.data(), addr, 16);
  id.port_be = port_be;
  return id;
}

std::optional<client_identity> client_identity_from_sockaddr(
    const void* sa, size_t sa_len) noexcept {
  if (sa == nullptr || sa_len < sizeof(sa_family_t)) return std::nullopt;
  // Fields are read where they lie: copying the whole sockaddr first costs
  // a store-forwarding stall on every cookie.
  const auto* p = static_cast<const uint8_t*>(sa);
  sa_family_t family;
  std::memcpy(&family, p, sizeof family);
  uint16_t port_be;
  if (family == AF_INET && sa_len >= sizeof(sockaddr_in)) {
    std::memcpy(&port_be, p + offsetof(sockaddr_in, sin_port), 2);
    return client_identity_ipv4(p + offsetof(sockaddr_in, sin_addr), port_be);
  }
  if (family == AF_INET6 && sa_len >= sizeof(sockaddr_in6)) {
    std::memcpy(&port_be, p + offsetof(sockaddr_in6, sin6_port), 2);
    return client_identity_ipv6(p + offsetof(sockaddr_in6, sin6_addr), port_be);
  }
  return std::nullopt;
}

namespace {

static_assert(DC_TAG_LEN == sizeof(uint64_t));

// The tag as the integer SipHash returns; the cookie holds it little-endian.
// Always inlined: as an out-of-line call it made make_cookie about a third
// slower.
__always_inline uint64_t cookie_tag(const key& k,
                                    const client_identity& id) noexcept {
  dc_mac_input in{};
  std::memcpy(in.addr, id.addr.data(), sizeof in.addr);
  in.port = id.port_be;
  in.key_generation = htonl(k.generation);
  return dc_siphash24_22(k.bytes.data(), reinterpret_cast<const __u8*>(&in));
}

}  // namespace

dc_cookie make_cookie(const key& k, const client_identity& id) noexcept {
  dc_cookie c{};
  c.key_generation = htonl(k.generation);
  dc_store_le64(c.tag, cookie_tag(k, id));
  return c;
}

bool is_valid(cookie_status s) noexcept {
  return s == cookie_status::valid_current ||
         s == cookie_status::valid_previous;
}

cookie_status check_cookie(const key_set& keys, const client_identity& id,
                           std::span<const uint8_t> cookie) noexcept {
  if (cookie.empty()) return cookie_status::absent;
  if (cookie.size() != DC_COOKIE_LEN) return cookie_status::wrong_length;
  dc_cookie got;
  std::memcpy(&got, cookie.data(), sizeof got);
  const key* k = keys.find(ntohl(got.key_generation));
  if (k == nullptr) return cookie_status::unknown_generation;
  // One 64-bit XOR and one test: constant time in the tag bytes like
  // CRYPTO_memcmp, without a call into libcrypto and a byte loop.
  if ((cookie_tag(*k, id) ^ dc_load_le64(got.tag)) != 0)
    return cookie_status::bad_tag;
  return keys.is_current(*k) ? cookie_status::valid_current
                             : cookie_status::valid_previous;
}

int cookie_send(const key_set* keys, const void* client_data,
                size_t client_data_size, const prestate* prestate, void* ptr,
                push_func push, uint16_t server_version) {
  if (keys == nullptr || keys->empty() || push == nullptr)
    return kErrInvalidRequest;
  const auto id = client_identity_from_sockaddr(client_data, client_data_size);
  if (!id) return kErrInvalidRequest;

  const dc_cookie cookie = make_cookie(*keys->current(), *id);
  const auto hvr = wire::build_hello_verify_request(
      prestate ? prestate->record_seq : 0,
      uint16_t(prestate ? prestate->hsk_write_seq : 0), server_version, cookie);
  const ssize_t ret = push(ptr, hvr.data(), hvr.size());
  if (ret < 0) return kErrPushError;
  return int(ret);
}

int cookie_verify(const key_set* keys, const void* client_data,
                  size_t client_data_size, const void* msg, size_t msg_size,
                  prestate* prestate) {
  // An empty datagram may come without a buffer; it is merely truncated.
  if (keys == nullptr || keys->empty() || (msg == nullptr && msg_size != 0) ||
      prestate == nullptr)
    return kErrInvalidRequest;
  const auto id = client_identity_from_sockaddr(client_data, client_data_size);
  if (!id) return kErrInvalidRequest;

  const auto parsed = wire::parse_client_hello(
      {msg_size ? static_cast<const uint8_t*>(msg) : nullptr, msg_size},
      wire::parse_depth::up_to_cookie);
  if (!parsed.ok()) {
    switch (*parsed.reason) {
      case wire::reject_reason::truncated:
      case wire::reject_reason::bad_length:
      case wire::reject_reason::session_id_too_long:
        return kErrUnexpectedPacketLength;
      default:
        return kErrUnexpectedPacket;
    }
  }

  const auto& ch = parsed.hello;
  prestate->record_seq = ch.record.sequence;
  prestate->hsk_read_seq = ch.handshake.message_seq;
  prestate->hsk_write_seq = 0;
  return is_valid(check_cookie(*keys, *id, ch.cookie)) ? kSuccess
                                                       : kErrBadCookie;
}

namespace gnutls_compat {
namespace {

constexpr size_t kSessionIdLenOffset = DC_OFF_SESSION_ID_LEN;

bool valid_key(const datum* key) {
  return key != nullptr && key->data != nullptr && key->size != 0;
}

bool mac(const datum* key, const void* client_data, size_t client_data_size,
         uint8_t out[kCookieLen]) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const uint8_t kEmpty = 0;
  const void* data = client_data_size ? client_data : &kEmpty;
  // XXX: OpenSSL 3's one-shot HMAC() fetches the algorithm and builds a
  // context per call (about 1.7 us); a per-key context would be faster.
  if (HMAC(EVP_sha1(), key->data, int(key->size),
           static_cast<const uint8_t*>(data), client_data_size, digest,
           &len) == nullptr)
    return false;
  std::memcpy(out, digest, kCookieLen);
  return true;
}

bool valid_client_data(const void* data, size_t size) {
  return (data != nullptr || size == 0) && size <= kMaxClientData;
}

}  // namespace

int cookie_send(const datum* key, const void* client_data,
                size_t client_data_size, const prestate* prestate, void* ptr,
                push_func push) {
  if (!valid_key(key) || push == nullptr ||
      !valid_client_data(client_data, client_data_size))
    return kErrInvalidRequest;

  uint8_t rec[kRecordLen] = {};
  rec[0] = DC_CONTENT_HANDSHAKE;
  wire::store_be<2>(rec + 1, DC_VERSION_DTLS10);
  // GnuTLS keeps only the low byte of the sequence numbers.
  rec[10] = uint8_t(prestate ? prestate->record_seq : 0);
  wire::store_be<2>(rec + 11, kRecordLen - DC_RECORD_HEADER_LEN);
  uint8_t* hs = rec + DC_RECORD_HEADER_LEN;
  hs[0] = DC_HS_HELLO_VERIFY_REQUEST;
  wire::store_be<3>(hs + 1, 3 + kCookieLen);
  hs[5] = uint8_t(prestate ? prestate->hsk_write_seq : 0);
  wire::store_be<3>(hs + 9, 3 + kCookieLen);
  uint8_t* body = hs + DC_HANDSHAKE_HEADER_LEN;
  wire::store_be<2>(body, DC_VERSION_DTLS10);
  body[2] = kCookieLen;
  if (!mac(key, client_data, client_data_size, body + 3))
    return kErrInvalidRequest;

  // GnuTLS keeps push's ssize_t in an int before testing its sign, so a
  // value beyond int is cut to its low 32 bits first.
  const int ret = int(push(ptr, rec, sizeof rec));
  if (ret < 0) return kErrPushError;
  return ret;
}

int cookie_verify(const datum* key, const void* client_data,
                  size_t client_data_size, const void* msg, size_t msg_size,
                  prestate* prestate) {
  if (!valid_key(key)) return kErrInvalidRequest;
  const uint8_t* m = static_cast<const uint8_t*>(msg);

  // GnuTLS reads fixed offsets only: session_id length, then the cookie,
  // which at least one byte must follow. Each pointer is checked where
  // GnuTLS first reads through it: every input it survives gets its return
  // code, and one it would crash on gets kErrInvalidRequest.
  if (msg_size < kSessionIdLenOffset + 1) return kErrUnexpectedPacketLength;
  if (m == nullptr) return kErrInvalidRequest;
  const size_t sid_len = m[kSessionIdLenOffset];
  if (sid_len > DC_MAX_SESSION_ID_LEN ||
      msg_size < kSessionIdLenOffset + sid_len + 2)
    return kErrUnexpectedPacketLength;
  const size_t cookie_pos = kSessionIdLenOffset + 1 + sid_len;
  const size_t cookie_len = m[cookie_pos];
  if (msg_size < cookie_pos + 1 + cookie_len + 1)
    return kErrUnexpectedPacketLength;
  if (cookie_len != kCookieLen) return kErrBadCookie;

  uint8_t want[kCookieLen];
  if (!valid_client_data(client_data, client_data_size) ||
      !mac(key, client_data, client_data_size, want))
    return kErrInvalidRequest;
  if (CRYPTO_memcmp(want, m + cookie_pos + 1, kCookieLen) != 0)
    return kErrBadCookie;
  if (prestate == nullptr) return kErrInvalidRequest;

  prestate->record_seq = m[10];
  prestate->hsk_read_seq = m[DC_RECORD_HEADER_LEN + 5];
  prestate->hsk_write_seq = 0;
  return kSuccess;
}

}  // namespace gnutls_compat
}  // namespace dtls_cookie
