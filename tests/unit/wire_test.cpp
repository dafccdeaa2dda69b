// ClientHello parsing: every reject reason, the DTLS 1.3 offer, the
// classification the responder applies, and the HelloVerifyRequest bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/wire.hpp"

namespace dc = dtls_cookie;
namespace wire = dtls_cookie::wire;
using dc::packet::client_hello;
using dc::packet::extension;
using bytes = std::vector<uint8_t>;

namespace {

std::optional<wire::reject_reason> reason_of(const bytes& d) {
  return wire::parse_client_hello(d).reason;
}

TEST(Wire, ParsesFields) {
  client_hello ch;
  ch.record_seq = 0x0000beefcafe1234ull;
  ch.message_seq = 2;
  ch.client_version = DC_VERSION_DTLS10;
  ch.record_version = DC_VERSION_DTLS10;
  ch.random.fill(0x77);
  ch.session_id = bytes(32, 0x01);
  ch.cookie = bytes(255, 0x02);
  ch.extensions = std::vector<extension>{
      {0x000a, {0, 2, 0, 23}},
      dc::packet::supported_versions({DC_VERSION_DTLS12})};
  const auto d = dc::packet::build(ch);
  const auto r = wire::parse_client_hello(d);
  ASSERT_TRUE(r.ok()) << wire::to_string(*r.reason);
  EXPECT_EQ(r.hello.record.sequence, 0xbeefcafe1234ull);
  EXPECT_EQ(r.hello.record.version, DC_VERSION_DTLS10);
  EXPECT_EQ(r.hello.handshake.message_seq, 2);
  EXPECT_EQ(r.hello.client_version, DC_VERSION_DTLS10);
  EXPECT_EQ(r.hello.random.size(), 32u);
  EXPECT_EQ(r.hello.random[31], 0x77);
  EXPECT_EQ(r.hello.session_id.size(), 32u);
  EXPECT_EQ(r.hello.cookie.size(), 255u);
  EXPECT_EQ(r.hello.cookie_len_offset, 59u + 1 + 32);
  EXPECT_FALSE(r.hello.offers_dtls13);
}

TEST(Wire, DetectsDtls13Offer) {
  client_hello ch;
  ch.extensions = std::vector<extension>{dc::packet::supported_versions(
      {0x7a7a, DC_VERSION_DTLS13, DC_VERSION_DTLS12})};
  const auto r = wire::parse_client_hello(dc::packet::build(ch));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.hello.offers_dtls13);
  // Only parsed up to the cookie, the offer is not looked for.
  EXPECT_FALSE(wire::parse_client_hello(dc::packet::build(ch),
                                        wire::parse_depth::up_to_cookie)
                   .hello.offers_dtls13);
}

TEST(Wire, RejectReasons) {
  using R = wire::reject_reason;
  const auto with = [](auto mutate) {
    client_hello ch;
    ch.extensions = std::vector<extension>{{0x000d, {0, 2, 4, 3}}};
    mutate(ch);
    return dc::packet::build(ch);
  };
  EXPECT_EQ(reason_of({22, 0xfe}), R::truncated);
  EXPECT_EQ(reason_of(with([](auto& c) { c.content_type = 23; })),
            R::not_handshake);
  EXPECT_EQ(reason_of(with([](auto& c) { c.epoch = 1; })), R::epoch_not_zero);
  EXPECT_EQ(reason_of(with([](auto& c) { c.record_version = 0x0303; })),
            R::bad_record_version);
  EXPECT_EQ(reason_of(with([](auto& c) { c.msg_type = 11; })),
            R::not_client_hello);
  EXPECT_EQ(reason_of(with([](auto& c) { c.fragment_offset = 1; })),
            R::fragmented);
  EXPECT_EQ(reason_of(with([](auto& c) { c.fragment_length = 5; })),
            R::fragmented);
  EXPECT_EQ(reason_of(with([](auto& c) { c.client_version = 0x0303; })),
            R::bad_client_version);
  EXPECT_EQ(reason_of(with([](auto& c) { c.session_id = bytes(33, 0); })),
            R::session_id_too_long);
  EXPECT_EQ(reason_of(with([](auto& c) { c.cipher_suites.clear(); })),
            R::bad_cipher_suites);
  EXPECT_EQ(reason_of(with([](auto& c) { c.compression.clear(); })),
            R::bad_compression);
  EXPECT_EQ(reason_of(with([](auto& c) {
              c.extensions->push_back(
                  {DC_EXT_SUPPORTED_VERSIONS, {3, 0xfe, 0xfd, 0}});
            })),
            R::bad_extensions);
  EXPECT_EQ(reason_of(with([](auto& c) {
              c.extensions->assign(DC_MAX_EXTENSIONS + 1, {0x1234, {}});
            })),
            R::too_many_extensions);
  EXPECT_TRUE(reason_of(with([](auto& c) {
                c.extensions->assign(DC_MAX_EXTENSIONS, {0x1234, {}});
              })) == std::nullopt);

  // Lengths that disagree with the data.
  auto d = with([](auto&) {});
  d[11] = 0;  // record length shorter than the handshake message
  d[12] = 10;
  EXPECT_EQ(reason_of(d), R::bad_length);
  d = with([](auto&) {});
  d.pop_back();  // record runs past the datagram
  EXPECT_EQ(reason_of(d), R::truncated);
  d = with([](auto&) {});
  d.push_back(0);  // a byte after the extension block inside the record
  d[12] += 1;
  d[16] += 1;
  d[24] += 1;
  EXPECT_EQ(reason_of(d), R::bad_extensions);
  // A second record after the ClientHello is fine.
  d = with([](auto&) {});
  const size_t n = d.size();
  d.insert(d.end(), d.begin(), d.begin() + long(n));
  EXPECT_TRUE(wire::parse_client_hello(d).ok());
}

TEST(Wire, EveryTruncationIsRefused) {
  client_hello ch;
  ch.cookie = bytes(12, 9);
  ch.extensions = std::vector<extension>{{0x000d, {0, 2, 4, 3}}};
  const auto d = dc::packet::build(ch);
  for (size_t len = 0; len < d.size(); ++len)
    EXPECT_FALSE(wire::parse_client_hello({d.data(), len}).ok()) << len;
  EXPECT_TRUE(wire::parse_client_hello(d).ok());
}

TEST(Wire, Classification) {
  using C = wire::datagram_class;
  const auto cls = [](const bytes& d) { return wire::classify(d).cls; };
  client_hello ch;
  EXPECT_EQ(cls(dc::packet::build(ch)), C::client_hello);
  for (uint8_t type : {20, 21, 23, 24, 25, 0x2c, 0x3f}) {
    bytes rec(30, 0);
    rec[0] = type;
    EXPECT_EQ(cls(rec), C::established) << int(type);
  }
  for (uint8_t type : {0, 19, 26, 0x40, 0xff}) {
    bytes rec(30, 0);
    rec[0] = type;
    EXPECT_EQ(cls(rec), C::malformed) << int(type);
  }
  EXPECT_EQ(cls(bytes(12, 22)), C::malformed);
  ch.epoch = 2;
  EXPECT_EQ(cls(dc::packet::build(ch)), C::established);
  ch = {};
  ch.msg_type = 16;  // ClientKeyExchange at epoch 0
  EXPECT_EQ(cls(dc::packet::build(ch)), C::established);
  ch = {};
  ch.fragment_length = 20;
  EXPECT_EQ(cls(dc::packet::build(ch)), C::fragmented);
  ch = {};
  ch.session_id = bytes(40, 0);
  EXPECT_EQ(cls(dc::packet::build(ch)), C::malformed);
}

TEST(Wire, HelloVerifyRequestBytes) {
  dc_cookie c{};
  c.key_generation = htobe32(0x01020304);
  for (int i = 0; i < DC_TAG_LEN; ++i) c.tag[i] = uint8_t(0xa0 + i);
  const auto hvr = wire::build_hello_verify_request(0x0102030405060708ull, 0,
                                                    DC_VERSION_DTLS12, c);
  const bytes want = {22,   0xfe, 0xfd, 0,    0,    0x03, 0x04, 0x05,
                      0x06, 0x07, 0x08, 0,    27,   3,    0,    0,
                      15,   0,    0,    0,    0,    0,    0,    0,
                      15,   0xfe, 0xfd, 12,   1,    2,    3,    4,
                      0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
  EXPECT_EQ(bytes(hvr.begin(), hvr.end()), want);
}

}  // namespace

namespace {

bytes read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  bytes out;
  if (!f) return out;
  int c;
  while ((c = std::fgetc(f)) != EOF) out.push_back(uint8_t(c));
  std::fclose(f);
  return out;
}

// ClientHellos captured from real clients parse completely, and the ones
// that answered a HelloVerifyRequest carry its 16-byte GnuTLS-style cookie.
TEST(Wire, CapturedClientHellosParse) {
  int parsed = 0;
  for (const char* client : {"openssl-dtls1_2", "openssl-dtls1_0",
                             "gnutls-dtls1_2", "gnutls-dtls1_0"}) {
    for (const char* which : {"first", "second"}) {
      const std::string path = std::string(DC_TEST_DATA_DIR) +
                               "/client-hellos/" + client + "." + which +
                               ".bin";
      const bytes d = read_file(path);
      ASSERT_FALSE(d.empty()) << path;
      const auto r = wire::parse_client_hello(d);
      ASSERT_TRUE(r.ok()) << path << ": " << wire::to_string(*r.reason);
      EXPECT_EQ(wire::classify(d).cls, wire::datagram_class::client_hello);
      EXPECT_FALSE(r.hello.offers_dtls13) << path;
      EXPECT_EQ(r.hello.cookie.size(), std::string(which) == "first" ? 0u : 16u)
          << path;
      ++parsed;
    }
  }
  EXPECT_EQ(parsed, 8);
}

}  // namespace
