// The reference API in SipHash mode: round trips, the rotation window,
// binding to the client's address and port, sequence numbers, bad input.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "dtls_cookie/abi/siphash.h"
#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/wire.hpp"

namespace dc = dtls_cookie;

namespace {

using bytes = std::vector<uint8_t>;

ssize_t capture(void* ptr, const void* data, size_t size) {
  auto* out = static_cast<bytes*>(ptr);
  const auto* p = static_cast<const uint8_t*>(data);
  out->assign(p, p + size);
  return ssize_t(size);
}

ssize_t failing_push(void*, const void*, size_t) { return -1; }

sockaddr_in v4(const char* addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  return sa;
}

sockaddr_in6 v6(const char* addr, uint16_t port) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  inet_pton(AF_INET6, addr, &sa.sin6_addr);
  return sa;
}

dc::key fixed_key(uint32_t generation, uint8_t fill) {
  dc::key k;
  k.generation = generation;
  k.bytes.fill(fill);
  return k;
}

bytes hello(bytes cookie, uint64_t seq = 0, uint16_t message_seq = 0) {
  dc::packet::client_hello ch;
  ch.cookie = std::move(cookie);
  ch.record_seq = seq;
  ch.message_seq = message_seq;
  return dc::packet::build(ch);
}

// The cookie that cookie_send writes, read back from its record.
template <typename Addr>
bytes issue(const dc::key_set& keys, const Addr& peer,
            const dc::prestate* ps = nullptr) {
  bytes hvr;
  EXPECT_EQ(dc::cookie_send(&keys, &peer, sizeof peer, ps, &hvr, capture),
            int(DC_HVR_LEN));
  EXPECT_EQ(hvr.size(), size_t(DC_HVR_LEN));
  return bytes(hvr.end() - DC_COOKIE_LEN, hvr.end());
}

TEST(CookieSipHash, HelloVerifyRequestLayout) {
  const dc::key_set keys(fixed_key(7, 0x11));
  const auto peer = v4("192.0.2.1", 5000);
  const dc::prestate ps{0x123456789abcull, 0, 0x0102};
  bytes hvr;
  ASSERT_EQ(dc::cookie_send(&keys, &peer, sizeof peer, &ps, &hvr, capture), 40);
  // Record and handshake headers written out by hand from RFC 6347.
  const bytes want_head = {
      22, 0xfe, 0xff, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0, 27, 3, 0, 0,
      15, 0x01, 0x02, 0, 0, 0,    0,    0,    15,   0xfe, 0xff, 12};
  EXPECT_EQ(bytes(hvr.begin(), hvr.begin() + 28), want_head);
  // The cookie: generation, then the SipHash tag of the client identity.
  EXPECT_EQ(bytes(hvr.begin() + 28, hvr.begin() + 32), (bytes{0, 0, 0, 7}));
  const uint8_t input[22] = {0,    0,   0, 0, 0, 0,    0,    0, 0, 0, 0xff,
                             0xff, 192, 0, 2, 1, 0x13, 0x88, 0, 0, 0, 7};
  uint8_t tag[8];
  dc_store_le64(tag, dc_siphash24(keys.current()->bytes.data(), input, 22));
  EXPECT_EQ(bytes(hvr.begin() + 32, hvr.end()), bytes(tag, tag + 8));
}

TEST(CookieSipHash, RoundTripIPv4AndIPv6) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto a4 = v4("198.51.100.20", 40000);
  const auto a6 = v6("2001:db8::20", 40000);
  for (const auto& [sa, len] :
       {std::pair<const void*, size_t>{&a4, sizeof a4}, {&a6, sizeof a6}}) {
    bytes hvr;
    ASSERT_GT(dc::cookie_send(&keys, sa, len, nullptr, &hvr, capture), 0);
    const auto ch = hello(bytes(hvr.end() - DC_COOKIE_LEN, hvr.end()), 513, 1);
    dc::prestate ps{};
    EXPECT_EQ(dc::cookie_verify(&keys, sa, len, ch.data(), ch.size(), &ps), 0);
    EXPECT_EQ(ps.record_seq, 513u);
    EXPECT_EQ(ps.hsk_read_seq, 1u);
    EXPECT_EQ(ps.hsk_write_seq, 0u);
  }
}

TEST(CookieSipHash, MappedIPv4EqualsPlainIPv4) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto plain = v4("203.0.113.9", 1234);
  const auto mapped = v6("::ffff:203.0.113.9", 1234);
  const auto cookie = issue(keys, plain);
  const auto ch = hello(cookie);
  dc::prestate ps{};
  EXPECT_EQ(dc::cookie_verify(&keys, &mapped, sizeof mapped, ch.data(),
                              ch.size(), &ps),
            0);
}

TEST(CookieSipHash, RotationWindow) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto peer = v6("2001:db8::1", 443);
  const auto ch = hello(issue(keys, peer));
  dc::prestate ps{};

  dc::rotate_random(keys);  // issuing key is now the previous one
  EXPECT_EQ(
      dc::cookie_verify(&keys, &peer, sizeof peer, ch.data(), ch.size(), &ps),
      0);
  EXPECT_EQ(dc::check_cookie(
                keys, *dc::client_identity_from_sockaddr(&peer, sizeof peer),
                {ch.data() + 61, DC_COOKIE_LEN}),
            dc::cookie_status::valid_previous);

  dc::rotate_random(keys);  // two rotations ago: refused
  EXPECT_EQ(
      dc::cookie_verify(&keys, &peer, sizeof peer, ch.data(), ch.size(), &ps),
      dc::kErrBadCookie);
}

TEST(CookieSipHash, BoundToAddressAndPort) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto peer = v4("192.0.2.50", 7000);
  const auto ch = hello(issue(keys, peer));
  const auto other_addr = v4("192.0.2.51", 7000);
  const auto other_port = v4("192.0.2.50", 7001);
  const auto other_family = v6("2001:db8::c000:232", 7000);
  dc::prestate ps{};
  for (const auto* sa : {static_cast<const void*>(&other_addr),
                         static_cast<const void*>(&other_port)})
    EXPECT_EQ(dc::cookie_verify(&keys, sa, sizeof(sockaddr_in), ch.data(),
                                ch.size(), &ps),
              dc::kErrBadCookie);
  EXPECT_EQ(dc::cookie_verify(&keys, &other_family, sizeof other_family,
                              ch.data(), ch.size(), &ps),
            dc::kErrBadCookie);
}

TEST(CookieSipHash, EveryBitOfTheCookieMatters) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto peer = v4("192.0.2.7", 9999);
  const auto cookie = issue(keys, peer);
  const auto id = *dc::client_identity_from_sockaddr(&peer, sizeof peer);
  ASSERT_EQ(dc::check_cookie(keys, id, cookie),
            dc::cookie_status::valid_current);
  for (size_t bit = 0; bit < cookie.size() * 8; ++bit) {
    bytes bad = cookie;
    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
    const auto s = dc::check_cookie(keys, id, bad);
    EXPECT_TRUE(s == dc::cookie_status::bad_tag ||
                s == dc::cookie_status::unknown_generation)
        << "bit " << bit;
  }
  EXPECT_EQ(dc::check_cookie(keys, id, {}), dc::cookie_status::absent);
  for (size_t len = 1; len <= 255; ++len) {
    if (len == DC_COOKIE_LEN) continue;
    bytes other(len, 0);
    std::memcpy(other.data(), cookie.data(), std::min(len, cookie.size()));
    EXPECT_EQ(dc::check_cookie(keys, id, other),
              dc::cookie_status::wrong_length);
  }
}

TEST(CookieSipHash, BadCookieFillsPrestateForTheEcho) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto peer = v4("192.0.2.8", 1111);
  const uint64_t seq = (1ull << 40) + 0x1234;  // above 2^32
  const auto ch = hello({}, seq, 0);
  dc::prestate ps{};
  ASSERT_EQ(
      dc::cookie_verify(&keys, &peer, sizeof peer, ch.data(), ch.size(), &ps),
      dc::kErrBadCookie);
  EXPECT_EQ(ps.record_seq, seq);
  bytes hvr;
  ASSERT_EQ(dc::cookie_send(&keys, &peer, sizeof peer, &ps, &hvr, capture), 40);
  EXPECT_EQ(dc::wire::load_be<6>(&hvr[5]), seq);
}

TEST(CookieSipHash, VerifyRefusesWhatIsNotAClientHello) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const auto peer = v4("192.0.2.9", 2222);
  const dc::prestate sentinel{0xdead, 0xbeef, 0xf00d};
  const auto check = [&](const bytes& d, int want) {
    dc::prestate ps = sentinel;
    EXPECT_EQ(
        dc::cookie_verify(&keys, &peer, sizeof peer, d.data(), d.size(), &ps),
        want);
    EXPECT_EQ(ps.record_seq, sentinel.record_seq);
  };
  const auto good = hello({});
  for (size_t n = 0; n < good.size(); ++n) {
    const bytes cut(good.begin(), good.begin() + n);
    // A prefix that still holds the whole body up to the cookie is a
    // truncated record; anything shorter is truncated too.
    check(cut, dc::kErrUnexpectedPacketLength);
  }
  dc::packet::client_hello ch;
  ch.content_type = DC_CONTENT_APPLICATION_DATA;
  check(dc::packet::build(ch), dc::kErrUnexpectedPacket);
  ch = {};
  ch.epoch = 1;
  check(dc::packet::build(ch), dc::kErrUnexpectedPacket);
  ch = {};
  ch.msg_type = 2;
  check(dc::packet::build(ch), dc::kErrUnexpectedPacket);
  ch = {};
  ch.fragment_length = 10;
  check(dc::packet::build(ch), dc::kErrUnexpectedPacket);
  ch = {};
  ch.session_id.assign(33, 1);
  check(dc::packet::build(ch), dc::kErrUnexpectedPacketLength);
}

TEST(CookieSipHash, BadInputGetsDocumentedCodes) {
  dc::key_set keys;
  dc::rotate_random(keys);
  const dc::key_set empty;
  const auto peer = v4("192.0.2.10", 3333);
  const auto ch = hello({});
  bytes out;
  dc::prestate ps{};

  EXPECT_EQ(dc::cookie_send(nullptr, &peer, sizeof peer, &ps, &out, capture),
            dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_send(&empty, &peer, sizeof peer, &ps, &out, capture),
            dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_send(&keys, nullptr, 16, &ps, &out, capture),
            dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_send(&keys, &peer, sizeof peer, &ps, &out, nullptr),
            dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_send(&keys, &peer, sizeof peer, &ps, &out, failing_push),
            dc::kErrPushError);
  // Client data too small for its family, or of an unknown family.
  EXPECT_EQ(dc::cookie_send(&keys, &peer, sizeof peer - 1, &ps, &out, capture),
            dc::kErrInvalidRequest);
  sockaddr_storage unix_like{};
  unix_like.ss_family = AF_UNIX;
  EXPECT_EQ(
      dc::cookie_send(&keys, &unix_like, sizeof unix_like, &ps, &out, capture),
      dc::kErrInvalidRequest);
  // An oversized sockaddr_storage holding an IPv4 address is fine.
  sockaddr_storage big{};
  std::memcpy(&big, &peer, sizeof peer);
  EXPECT_EQ(dc::cookie_send(&keys, &big, sizeof big, &ps, &out, capture), 40);

  EXPECT_EQ(
      dc::cookie_verify(nullptr, &peer, sizeof peer, ch.data(), ch.size(), &ps),
      dc::kErrInvalidRequest);
  EXPECT_EQ(
      dc::cookie_verify(&empty, &peer, sizeof peer, ch.data(), ch.size(), &ps),
      dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_verify(&keys, &peer, sizeof peer, nullptr, 100, &ps),
            dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_verify(&keys, &peer, sizeof peer, ch.data(), ch.size(),
                              nullptr),
            dc::kErrInvalidRequest);
  EXPECT_EQ(dc::cookie_verify(&keys, nullptr, 0, ch.data(), ch.size(), &ps),
            dc::kErrInvalidRequest);

  for (int code :
       {dc::kErrUnexpectedPacketLength, dc::kErrUnexpectedPacket,
        dc::kErrInvalidRequest, dc::kErrPushError, dc::kErrBadCookie, -12345})
    EXPECT_STRNE(dc::strerror(code), "success") << code;
}

}  // namespace
