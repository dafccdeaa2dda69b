// DTLS wire code: a read-only view of a ClientHello datagram with the exact
// reason a datagram is refused, the classification that the XDP responder
// applies to every datagram on its ports, and the HelloVerifyRequest
// builder that both the library and the kernel's output are checked with.
#pragma once

#include <endian.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "dtls_cookie/abi/abi.h"

namespace dtls_cookie::wire {

// Header fields as parsed. No default member values on purpose: zeroing
// the parse result first showed up as a third of the cost of a verify.
struct record_header {
  uint8_t content_type;
  uint16_t version;
  uint16_t epoch;
  uint64_t sequence;  // 48 bits
  uint16_t length;
};

struct handshake_header {
  uint8_t msg_type;
  uint32_t length;  // 24 bits
  uint16_t message_seq;
  uint32_t fragment_offset;
  uint32_t fragment_length;
};

// Why a datagram is not a complete, unfragmented ClientHello.
enum class reject_reason : uint8_t {
  truncated,           // shorter than a field it must hold
  not_handshake,       // record content type is not handshake
  epoch_not_zero,      // handshake record of an established epoch
  bad_record_version,  // record version is not DTLS 1.0 or 1.2
  not_client_hello,    // handshake message is of another type
  fragmented,          // fragment_offset != 0 or fragment_length != length
  bad_length,          // record or handshake length disagrees with the data
  bad_client_version,  // client_version is not DTLS 1.0 or 1.2
  session_id_too_long,
  bad_cipher_suites,   // cipher_suites length odd or past the end
  bad_compression,     // compression_methods length zero or past the end
  bad_extensions,      // extension block does not add up
  too_many_extensions  // beyond DC_MAX_EXTENSIONS or versions bound
};

std::string_view to_string(reject_reason reason) noexcept;

// A ClientHello seen through its datagram; the spans point into it.
struct client_hello {
  record_header record;
  handshake_header handshake;
  uint16_t client_version;
  std::span<const uint8_t> random;
  std::span<const uint8_t> session_id;
  std::span<const uint8_t> cookie;
  // Offset of the cookie length byte from the start of the datagram.
  size_t cookie_len_offset;
  bool offers_dtls13 = false;
};

struct parse_result {
  client_hello hello;
  std::optional<reject_reason> reason;  // empty when parsed
  bool ok() const noexcept { return !reason.has_value(); }
};

// How far parse_client_hello reads.
enum class parse_depth {
  up_to_cookie,  // what a cookie check needs (the kernel's pass path)
  full,          // cipher suites, compression and every extension
};

// Parses the first record of a datagram as a ClientHello.
parse_result parse_client_hello(std::span<const uint8_t> datagram,
                                parse_depth depth = parse_depth::full);

// The coarse class of a datagram arriving on a responder port, the same
// decision the XDP program takes before it looks at the cookie.
enum class datagram_class : uint8_t {
  client_hello,  // unfragmented ClientHello parsed up to its cookie
  established,   // other content types, epochs above 0, other handshakes
  fragmented,    // a ClientHello fragment
  malformed,     // not a DTLS record the responder understands
};

struct classification {
  datagram_class cls = datagram_class::malformed;
  parse_result parsed;  // filled up to the cookie for client_hello
};

classification classify(std::span<const uint8_t> datagram);

// Writes a HelloVerifyRequest record into out. The record sequence number
// is the full 48 bits given (RFC 6347 4.2.1 asks the ClientHello's).
std::array<uint8_t, DC_HVR_LEN> build_hello_verify_request(
    uint64_t record_seq, uint16_t message_seq, uint16_t server_version,
    const struct dc_cookie& cookie);

// Reads a big-endian integer of N bytes (1 to 8). Written as whole loads
// and byte swaps: the parser calls it on every datagram.
template <size_t N>
inline uint64_t load_be(const uint8_t* p) noexcept {
  static_assert(N >= 1 && N <= 8);
  if constexpr (N == 1) {
    return p[0];
  } else if constexpr (N == 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return be16toh(v);
  } else if constexpr (N == 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return be32toh(v);
  } else if constexpr (N == 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return be64toh(v);
  } else if constexpr (N < 4) {
    return load_be<N - 2>(p) << 16 | load_be<2>(p + N - 2);
  } else {
    return load_be<N - 4>(p) << 32 | load_be<4>(p + N - 4);
  }
}

// Writes v as a big-endian integer of N bytes (1 to 8).
template <size_t N>
inline void store_be(uint8_t* p, uint64_t v) noexcept {
  static_assert(N >= 1 && N <= 8);
  if constexpr (N == 1) {
    p[0] = uint8_t(v);
  } else if constexpr (N == 2) {
    const uint16_t b = htobe16(uint16_t(v));
    std::memcpy(p, &b, 2);
  } else if constexpr (N == 4) {
    const uint32_t b = htobe32(uint32_t(v));
    std::memcpy(p, &b, 4);
  } else if constexpr (N == 8) {
    const uint64_t b = htobe64(v);
    std::memcpy(p, &b, 8);
  } else if constexpr (N < 4) {
    store_be<N - 2>(p, v >> 16);
    store_be<2>(p + N - 2, v);
  } else {
    store_be<N - 4>(p, v >> 32);
    store_be<4>(p + N - 4, v);
  }
}

}  // namespace dtls_cookie::wire
