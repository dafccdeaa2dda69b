// A short demonstration of the library: issue a cookie for a client the
// way the XDP responder will, verify the client's second ClientHello, and
// show that the BPF program embedded in this binary opens.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <vector>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/packet.hpp"
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

// A DTLS 1.2 ClientHello carrying the given cookie.
std::vector<uint8_t> client_hello(uint64_t seq, std::span<const uint8_t> ck) {
  dc::packet::client_hello ch;
  ch.record_seq = seq;
  ch.cookie.assign(ck.begin(), ck.end());
  return dc::packet::build(ch);
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
