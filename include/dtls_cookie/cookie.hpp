// The reference API: the call shape and semantics of GnuTLS's
// gnutls_dtls_cookie_send / gnutls_dtls_cookie_verify pair, computing the
// very cookie the XDP responder computes (SipHash mode), plus a mode whose
// output is byte-identical to libgnutls's (HMAC-SHA1 mode).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/keys.hpp"

namespace dtls_cookie {

// What a server needs to continue the handshake after a cookie exchange.
// record_seq keeps all 48 bits of the ClientHello's record sequence number
// (GnuTLS keeps the low byte only).
struct prestate {
  uint64_t record_seq = 0;
  uint32_t hsk_read_seq = 0;
  uint32_t hsk_write_seq = 0;
};

// Same shape as gnutls_push_func.
using push_func = ssize_t (*)(void* ptr, const void* data, size_t size);

// The canonical client identity: a 16-byte address (IPv4 as IPv4-mapped
// IPv6) and a port, both in network byte order as on the wire.
struct client_identity {
  std::array<uint8_t, 16> addr{};
  uint16_t port_be = 0;

  bool operator==(const client_identity&) const = default;
};

// From a struct sockaddr_in or sockaddr_in6 (or a sockaddr_storage holding
// one); empty for other families or a size too small for the family.
std::optional<client_identity> client_identity_from_sockaddr(
    const void* sa, size_t sa_len) noexcept;

client_identity client_identity_ipv4(const uint8_t addr[4],
                                     uint16_t port_be) noexcept;
client_identity client_identity_ipv6(const uint8_t addr[16],
                                     uint16_t port_be) noexcept;

// The cookie for a client under one key.
dc_cookie make_cookie(const key& k, const client_identity& id) noexcept;

enum class cookie_status : uint8_t {
  valid_current,
  valid_previous,
  absent,              // cookie length 0
  wrong_length,        // not DC_COOKIE_LEN
  unknown_generation,  // neither the current nor the previous key
  bad_tag,
};

bool is_valid(cookie_status s) noexcept;

// Checks cookie bytes against a key set in constant time in the tag.
cookie_status check_cookie(const key_set& keys, const client_identity& id,
                           std::span<const uint8_t> cookie) noexcept;

// Sends a HelloVerifyRequest with a fresh cookie for the client through
// push_func. client_data is the peer's struct sockaddr. The record carries
// prestate->record_seq (all 48 bits) and message_seq
// prestate->hsk_write_seq; a null prestate sends zeros. Returns what
// push_func returned, kErrPushError if that was negative, or
// kErrInvalidRequest for a missing key, null arguments or client data that
// is not an IPv4/IPv6 socket address.
int cookie_send(const key_set* keys, const void* client_data,
                size_t client_data_size, const prestate* prestate, void* ptr,
                push_func push, uint16_t server_version = DC_VERSION_DTLS10);

// Verifies the cookie in a ClientHello datagram from the client. Returns 0
// and fills prestate (record_seq, hsk_read_seq = message_seq,
// hsk_write_seq = 0) when the cookie verifies under the current or the
// previous key. Otherwise a negative code: kErrInvalidRequest (missing key
// or arguments), kErrUnexpectedPacketLength (truncated or inconsistent
// lengths), kErrUnexpectedPacket (not an unfragmented epoch-0 ClientHello),
// kErrBadCookie. On kErrBadCookie the prestate is filled the same way, so
// the cookie_send that follows echoes the ClientHello's sequence numbers
// as RFC 6347 asks; on other errors it is untouched.
int cookie_verify(const key_set* keys, const void* client_data,
                  size_t client_data_size, const void* msg, size_t msg_size,
                  prestate* prestate);

// The GnuTLS-compatible mode: the cookie is the first 16 bytes of
// HMAC-SHA1(key, client_data), and every byte written and every return
// code matches libgnutls 3.7, including its shortcuts (only the low byte of
// the sequence numbers, fixed-offset parsing). Kept for servers that must
// interoperate with GnuTLS-issued cookies.
namespace gnutls_compat {

inline constexpr size_t kCookieLen = 16;
inline constexpr size_t kRecordLen = 44;
// Larger client data is refused with kErrInvalidRequest (GnuTLS has no
// bound; a socket address is at most 128 bytes).
inline constexpr size_t kMaxClientData = 4096;

struct datum {
  const void* data = nullptr;
  size_t size = 0;
};

int cookie_send(const datum* key, const void* client_data,
                size_t client_data_size, const prestate* prestate, void* ptr,
                push_func push);
int cookie_verify(const datum* key, const void* client_data,
                  size_t client_data_size, const void* msg, size_t msg_size,
                  prestate* prestate);

}  // namespace gnutls_compat
}  // namespace dtls_cookie
