// A short demonstration of the library: issue a cookie for a client the
// way the XDP responder will, verify the client's second ClientHello, and
// show that the BPF program embedded in this binary opens.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <vector>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/wire.hpp"
#include "responder.skel.h"

namespace dc = dtls_cookie;

namespace {

ssize_t capture(void* ptr, const void* data, size_t size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ptr);
  const auto* p = static_cast<const uint8_t*>(data);
  out->assign(p, p + size);
  return ssize_t(size);
}

// A minimal DTLS 1.2 ClientHello carrying the given cookie.
std::vector<uint8_t> client_hello(uint64_t seq, std::span<const uint8_t> ck) {
  std::vector<uint8_t> body = {0xfe, 0xfd};
  body.resize(body.size() + 32, 0x42);  // random
  body.push_back(0);                    // session_id
  body.push_back(uint8_t(ck.size()));
  body.insert(body.end(), ck.begin(), ck.end());
  for (uint8_t b : {0x00, 0x02, 0xc0, 0x2b, 0x01, 0x00}) body.push_back(b);
  std::vector<uint8_t> d(DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN);
  d[0] = DC_CONTENT_HANDSHAKE;
  dc::wire::store_be<2>(&d[1], DC_VERSION_DTLS12);
  dc::wire::store_be<6>(&d[5], seq);
  dc::wire::store_be<2>(&d[11], DC_HANDSHAKE_HEADER_LEN + body.size());
  d[13] = DC_HS_CLIENT_HELLO;
  dc::wire::store_be<3>(&d[14], body.size());
  dc::wire::store_be<3>(&d[22], body.size());
  d.insert(d.end(), body.begin(), body.end());
  return d;
}

}  // namespace

int main() {
  sockaddr_in6 peer{};
  peer.sin6_family = AF_INET6;
  peer.sin6_port = htons(40000);
  inet_pton(AF_INET6, "2001:db8::7", &peer.sin6_addr);

  dc::key_set keys;
  dc::rotate_random(keys);

  const auto first = client_hello(300, {});
  dc::prestate ps;
  int rc = dc::cookie_verify(&keys, &peer, sizeof peer, first.data(),
                             first.size(), &ps);
  std::printf("first ClientHello (no cookie): verify -> %d (%s)\n", rc,
              dc::strerror(rc));

  std::vector<uint8_t> hvr;
  rc = dc::cookie_send(&keys, &peer, sizeof peer, &ps, &hvr, capture);
  const auto parsed_seq = dc::wire::load_be<6>(&hvr[5]);
  std::printf("HelloVerifyRequest: %d bytes, record sequence %llu echoed\n", rc,
              static_cast<unsigned long long>(parsed_seq));

  const std::span<const uint8_t> cookie(&hvr[DC_HVR_LEN - DC_COOKIE_LEN],
                                        DC_COOKIE_LEN);
  dc::rotate_random(keys);  // a rotation in between: previous key still valid
  const auto second = client_hello(301, cookie);
  rc = dc::cookie_verify(&keys, &peer, sizeof peer, second.data(),
                         second.size(), &ps);
  std::printf(
      "second ClientHello after a rotation: verify -> %d (%s), "
      "prestate record_seq %llu\n",
      rc, dc::strerror(rc), static_cast<unsigned long long>(ps.record_seq));

  responder* skel = responder__open();
  std::printf("embedded XDP program: %s\n", skel ? "opened" : "failed to open");
  responder__destroy(skel);
  return rc == 0 && skel ? 0 : 1;
}
