// A program outside the tree that uses an installed dtls-cookie: a cookie
// round trip through cookie_send and cookie_verify on hand-written
// ClientHellos, key rotation, and the pinned key source's error path.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/pinned_keys.hpp"
#include "dtls_cookie/version.hpp"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) ++failures;
}

ssize_t push(void* ptr, const void* data, size_t size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ptr);
  auto* p = static_cast<const uint8_t*>(data);
  out->assign(p, p + size);
  return ssize_t(size);
}

void put16(std::vector<uint8_t>& b, unsigned v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}

void put24(std::vector<uint8_t>& b, unsigned v) {
  b.push_back(uint8_t(v >> 16));
  put16(b, v);
}

// A DTLS 1.2 ClientHello laid out by hand from RFC 6347, so the library
// is checked against the wire format rather than against itself.
std::vector<uint8_t> client_hello(uint64_t record_seq, unsigned message_seq,
                                  const std::vector<uint8_t>& cookie) {
  std::vector<uint8_t> body;
  put16(body, 0xfefd);
  for (unsigned i = 0; i < 32; ++i) body.push_back(uint8_t(i * 7));
  body.push_back(0);  // session_id
  body.push_back(uint8_t(cookie.size()));
  body.insert(body.end(), cookie.begin(), cookie.end());
  put16(body, 2);
  put16(body, 0xc02b);  // ECDHE-ECDSA-AES128-GCM-SHA256
  body.push_back(1);
  body.push_back(0);  // null compression

  std::vector<uint8_t> d;
  d.push_back(22);
  put16(d, 0xfefd);
  put16(d, 0);  // epoch
  for (int shift = 40; shift >= 0; shift -= 8)
    d.push_back(uint8_t(record_seq >> shift));
  put16(d, unsigned(12 + body.size()));
  d.push_back(1);
  put24(d, unsigned(body.size()));
  put16(d, message_seq);
  put24(d, 0);
  put24(d, unsigned(body.size()));
  d.insert(d.end(), body.begin(), body.end());
  return d;
}

}  // namespace

int main() {
  namespace dc = dtls_cookie;
  std::printf("dtls-cookie %s\n", DTLS_COOKIE_VERSION);

  dc::key_set keys(dc::random_key(1));
  sockaddr_in client{};
  client.sin_family = AF_INET;
  client.sin_port = htons(40000);
  inet_pton(AF_INET, "192.0.2.7", &client.sin_addr);

  // Record sequence 0x10203 (above 255) and message_seq 0: the
  // HelloVerifyRequest must echo all of the record sequence.
  auto first = client_hello(0x10203, 0, {});
  dc::prestate ps;
  int rc = dc::cookie_verify(&keys, &client, sizeof client, first.data(),
                             first.size(), &ps);
  expect(rc == dc::kErrBadCookie, "a ClientHello without a cookie: -214");
  expect(ps.record_seq == 0x10203, "its record sequence kept for the reply");

  std::vector<uint8_t> hvr;
  rc = dc::cookie_send(&keys, &client, sizeof client, &ps, &hvr, push);
  expect(rc == 40 && hvr.size() == 40, "HelloVerifyRequest of 40 bytes");
  if (hvr.size() != 40) return 1;
  // clang-format off
  const uint8_t head[] = {
      22, 0xfe, 0xff, 0, 0, 0, 0, 0, 1, 2, 3, 0, 27,  // record, DTLS 1.0
      3, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 15,           // handshake, 15 bytes
      0xfe, 0xff};                                    // server_version
  // clang-format on
  expect(std::memcmp(hvr.data(), head, sizeof head) == 0,
         "record and handshake header, sequence echoed");
  expect(hvr[27] == 12, "cookie of 12 bytes");
  std::vector<uint8_t> cookie(hvr.begin() + 28, hvr.end());

  auto second = client_hello(0x10204, 1, cookie);
  dc::prestate ps2;
  rc = dc::cookie_verify(&keys, &client, sizeof client, second.data(),
                         second.size(), &ps2);
  expect(rc == dc::kSuccess, "the cookie verifies");
  expect(ps2.record_seq == 0x10204 && ps2.hsk_read_seq == 1,
         "prestate of the second ClientHello");

  sockaddr_in other = client;
  other.sin_port = htons(40001);
  rc = dc::cookie_verify(&keys, &other, sizeof other, second.data(),
                         second.size(), &ps2);
  expect(rc == dc::kErrBadCookie, "not from another port");

  auto tampered = second;
  // The cookie's last byte: six bytes of cipher suites and compression
  // methods follow it.
  tampered[tampered.size() - 7] ^= 1;
  rc = dc::cookie_verify(&keys, &client, sizeof client, tampered.data(),
                         tampered.size(), &ps2);
  expect(rc == dc::kErrBadCookie, "not with a bit flipped");

  dc::rotate_random(keys);
  rc = dc::cookie_verify(&keys, &client, sizeof client, second.data(),
                         second.size(), &ps2);
  expect(rc == dc::kSuccess, "still valid under the previous key");
  dc::rotate_random(keys);
  rc = dc::cookie_verify(&keys, &client, sizeof client, second.data(),
                         second.size(), &ps2);
  expect(rc == dc::kErrBadCookie, "not two rotations later");

  // Not a bpffs: the key source refuses at construction, with the
  // library's exception type across the library boundary.
  bool refused = false;
  try {
    dc::pinned_key_source source("/nonexistent/dtls-cookie-consumer");
  } catch (const dc::error& e) {
    refused = std::strstr(e.what(), "dtls-cookie-consumer") != nullptr;
  }
  expect(refused, "pinned_key_source names a missing pin directory");

  return failures == 0 ? 0 : 1;
}
