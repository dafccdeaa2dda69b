// Error codes of the reference API and the one exception type of the C++
// side. The codes keep GnuTLS's numeric values where the meaning is the
// same, so a server can switch between the two without remapping.
#pragma once

#include <stdexcept>
#include <string>

namespace dtls_cookie {

// Negative return codes of cookie_send / cookie_verify.
inline constexpr int kSuccess = 0;
// The datagram is too short or a length field runs past its end.
inline constexpr int kErrUnexpectedPacketLength = -9;
// The datagram is not a ClientHello this API can check (wrong content
// type, epoch, handshake type, or a fragment).
inline constexpr int kErrUnexpectedPacket = -15;
// A missing or empty key, a null buffer or unusable client data.
inline constexpr int kErrInvalidRequest = -50;
// The push function returned a negative value.
inline constexpr int kErrPushError = -53;
// The cookie is absent, of the wrong length, from an unknown key
// generation, or its tag does not verify.
inline constexpr int kErrBadCookie = -214;

// strerror() - a short English description of a return code
// @code: a return code of cookie_send() or cookie_verify()
//
// Returns: the description, never null; "success" for 0 and for the
// non-negative byte counts of cookie_send(), "unknown error" for other
// negative codes.
// See also: cookie_verify(), cookie_send(), gnutls_strerror(3)
const char* strerror(int code) noexcept;

// Thrown for failures a caller cannot handle locally (OpenSSL failures,
// unreadable secret files); caught once in main().
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dtls_cookie
