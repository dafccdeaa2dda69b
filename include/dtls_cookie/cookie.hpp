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

// client_identity_from_sockaddr() - the client identity of a socket address
// @sa: a struct sockaddr_in or sockaddr_in6, or a sockaddr_storage holding
//   one
// @sa_len: the size of the structure at sa
//
// Returns: the identity; empty for other families, a size too small for the
// family or a null sa.
// See also: client_identity_ipv4(), client_identity_ipv6(), make_cookie()
std::optional<client_identity> client_identity_from_sockaddr(
    const void* sa, size_t sa_len) noexcept;

// client_identity_ipv4() - the client identity of an IPv4 address and port
// @addr: the address, 4 bytes in network byte order
// @port_be: the UDP port in network byte order
//
// The address is kept as the IPv4-mapped IPv6 address ::ffff:a.b.c.d, the
// form in which the XDP responder reads it from an IPv4 packet and a
// dual-stack socket reports it, so all three give the same identity.
//
// Returns: the identity.
// See also: client_identity_ipv6(), client_identity_from_sockaddr()
client_identity client_identity_ipv4(const uint8_t addr[4],
                                     uint16_t port_be) noexcept;

// client_identity_ipv6() - the client identity of an IPv6 address and port
// @addr: the address, 16 bytes in network byte order
// @port_be: the UDP port in network byte order
//
// Returns: the identity.
// See also: client_identity_ipv4(), client_identity_from_sockaddr()
client_identity client_identity_ipv6(const uint8_t addr[16],
                                     uint16_t port_be) noexcept;

// make_cookie() - the cookie for a client under one key
// @k: the key; its generation is written into the cookie
// @id: the client the cookie is bound to
//
// The cookie is the key generation, big-endian, followed by the
// SipHash-2-4 tag under k of the client's address, port and that
// generation, little-endian: the very bytes the XDP responder writes into
// its HelloVerifyRequest.
//
// Returns: the cookie, DC_COOKIE_LEN bytes.
// See also: check_cookie(), cookie_send()
dc_cookie make_cookie(const key& k, const client_identity& id) noexcept;

enum class cookie_status : uint8_t {
  valid_current,
  valid_previous,
  absent,              // cookie length 0
  wrong_length,        // not DC_COOKIE_LEN
  unknown_generation,  // neither the current nor the previous key
  bad_tag,
};

// is_valid() - whether a cookie status means the cookie verified
// @s: a status from check_cookie()
//
// Returns: true for valid_current and valid_previous, false otherwise.
// See also: check_cookie()
bool is_valid(cookie_status s) noexcept;

// check_cookie() - checks cookie bytes against a key set
// @keys: the current and the previous key
// @id: the client the cookie must be bound to
// @cookie: the cookie bytes of the ClientHello
//
// The generation in the cookie picks the key; the tag is compared in
// constant time.
//
// Returns: valid_current or valid_previous when the tag verifies under that
// key; absent for no cookie, wrong_length when it is not DC_COOKIE_LEN
// bytes, unknown_generation when its generation is neither key's, bad_tag
// otherwise.
// See also: is_valid(), make_cookie(), cookie_verify()
cookie_status check_cookie(const key_set& keys, const client_identity& id,
                           std::span<const uint8_t> cookie) noexcept;

// cookie_send() - sends a HelloVerifyRequest with a fresh cookie
// @keys: the key set; its current key makes the cookie
// @client_data: the peer's struct sockaddr (sockaddr_in or sockaddr_in6)
// @client_data_size: the size of the structure at client_data
// @prestate: the sequence numbers to echo, as cookie_verify() filled them;
//   null sends zeros
// @ptr: handed to push unchanged
// @push: writes the record; same shape as gnutls_push_func
// @server_version: the version written into the HelloVerifyRequest
//
// Sends a HelloVerifyRequest with a fresh cookie for the client through
// push. The record carries prestate->record_seq (all 48 bits) and
// message_seq prestate->hsk_write_seq.
//
// Returns: what push returned; kErrPushError if that was negative;
// kErrInvalidRequest for a missing key, null arguments or client data that
// is not an IPv4/IPv6 socket address.
// See also: cookie_verify(), make_cookie(), gnutls_dtls_cookie_send(3)
int cookie_send(const key_set* keys, const void* client_data,
                size_t client_data_size, const prestate* prestate, void* ptr,
                push_func push, uint16_t server_version = DC_VERSION_DTLS10);

// cookie_verify() - verifies the cookie in a ClientHello datagram
// @keys: the key set; the cookie may be from the current or the previous
//   key
// @client_data: the peer's struct sockaddr (sockaddr_in or sockaddr_in6)
// @client_data_size: the size of the structure at client_data
// @msg: the datagram, starting with the record header
// @msg_size: its size
// @prestate: filled with the ClientHello's sequence numbers
//
// Verifies the cookie in a ClientHello datagram from the client. When it
// verifies, prestate gets record_seq, hsk_read_seq = message_seq and
// hsk_write_seq = 0. On kErrBadCookie the prestate is filled the same way,
// so the cookie_send() that follows echoes the ClientHello's sequence
// numbers as RFC 6347 asks; on other errors it is untouched.
//
// Returns: 0 when the cookie verifies under the current or the previous
// key. Otherwise a negative code: kErrInvalidRequest for a missing key or
// arguments, kErrUnexpectedPacketLength for truncated or inconsistent
// lengths, kErrUnexpectedPacket when the datagram is not an unfragmented
// epoch-0 ClientHello, kErrBadCookie for a cookie that is absent or does
// not verify.
// See also: cookie_send(), check_cookie(), strerror(),
//   gnutls_dtls_cookie_verify(3)
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

// cookie_send() - sends the HelloVerifyRequest libgnutls sends
// @key: the HMAC-SHA1 key; GnuTLS suggests 16 bytes
// @client_data: bytes that identify the client, usually its struct sockaddr
// @client_data_size: their number, at most kMaxClientData
// @prestate: the low bytes of record_seq and hsk_write_seq are echoed; null
//   sends zeros
// @ptr: handed to push unchanged
// @push: writes the record; same shape as gnutls_push_func
//
// Writes the kRecordLen-byte record gnutls_dtls_cookie_send() writes: a
// HelloVerifyRequest of version DTLS 1.0 whose kCookieLen-byte cookie is
// the first bytes of HMAC-SHA1(key, client_data).
//
// Returns: what push returned, cut to an int as libgnutls does;
// kErrPushError if that was negative; kErrInvalidRequest for a missing or
// empty key, a null push, or client data that is null with a size or larger
// than kMaxClientData.
// See also: cookie_verify(), gnutls_dtls_cookie_send(3)
int cookie_send(const datum* key, const void* client_data,
                size_t client_data_size, const prestate* prestate, void* ptr,
                push_func push);

// cookie_verify() - verifies a cookie as libgnutls does
// @key: the HMAC-SHA1 key cookie_send() used
// @client_data: the same bytes cookie_send() was given for this client
// @client_data_size: their number, at most kMaxClientData
// @msg: the datagram, starting with the record header
// @msg_size: its size
// @prestate: filled on success
//
// Reads fixed offsets only, as gnutls_dtls_cookie_verify() does: the
// session_id length at byte 59, then the cookie, which at least one byte
// must follow. Content type, epoch, handshake type and fragment fields are
// not checked. On success prestate gets the low byte of the record
// sequence (byte 10) in record_seq, the low byte of message_seq (byte 18)
// in hsk_read_seq and 0 in hsk_write_seq; on failure it is untouched.
//
// Returns: 0 when the cookie verifies; kErrUnexpectedPacketLength for a
// datagram shorter than 60 bytes, a session_id length over 32 or a cookie
// running past the end; kErrBadCookie for a cookie length other than
// kCookieLen or a MAC mismatch; kErrInvalidRequest for a missing or empty
// key, and for null pointers where libgnutls would crash.
// See also: cookie_send(), gnutls_dtls_cookie_verify(3)
int cookie_verify(const datum* key, const void* client_data,
                  size_t client_data_size, const void* msg, size_t msg_size,
                  prestate* prestate);

}  // namespace gnutls_compat
}  // namespace dtls_cookie
