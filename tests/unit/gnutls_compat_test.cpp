// Differential test of dtls_cookie::gnutls_compat against the real
// libgnutls: for every case both implementations run on the same input and
// must agree on the return code, the prestate and every byte pushed.
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dtls_cookie/cookie.hpp"

namespace {

namespace gc = dtls_cookie::gnutls_compat;
using bytes = std::vector<uint8_t>;

constexpr size_t kSessionIdLenOffset = 59;
constexpr size_t kHvrCookieOffset = 28;
constexpr uint32_t kSentinel32 = 0xa5a5a5a5u;
constexpr uint64_t kSentinel64 = 0xa5a5a5a5a5a5a5a5ull;

size_t g_total_cases = 0;

std::string hex(const uint8_t* p, size_t n) {
  static const char* const digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string hex(const bytes& b) { return hex(b.data(), b.size()); }

bytes read_fixture(const std::string& name) {
  const std::string path =
      std::string(DC_TEST_DATA_DIR) + "/client-hellos/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path
                  << " (scripts/capture-client-hellos.sh writes it)";
    return {};
  }
  return bytes(std::istreambuf_iterator<char>(in), {});
}

// One client's capture: see scripts/capture-client-hellos.sh.
struct capture {
  std::string name;
  bytes first;        // no cookie
  bytes second;       // echoes the listener's cookie
  bytes client_data;  // the sockaddr_in the cookie was made for
};

const bytes& fixture_key() {
  static const bytes key = read_fixture("cookie-key.bin");
  return key;
}

const std::vector<capture>& captures() {
  static const std::vector<capture> all = [] {
    std::vector<capture> v;
    for (const char* name : {"openssl-dtls1_2", "openssl-dtls1_0",
                             "gnutls-dtls1_2", "gnutls-dtls1_0"}) {
      const std::string n = name;
      v.push_back({n, read_fixture(n + ".first.bin"),
                   read_fixture(n + ".second.bin"),
                   read_fixture(n + ".client-data.bin")});
    }
    return v;
  }();
  return all;
}

// Offsets of a well-formed ClientHello's cookie length byte and the byte
// after the cookie. Only used on fixtures and on datagrams built from them.
size_t cookie_len_offset(const bytes& hello) {
  return kSessionIdLenOffset + 1 + hello.at(kSessionIdLenOffset);
}

size_t cookie_end(const bytes& hello) {
  const size_t at = cookie_len_offset(hello);
  return at + 1 + hello.at(at);
}

// Rewrites the record, handshake and fragment lengths so that a datagram
// built from a fixture stays self-consistent, as a real client's would.
void fix_lengths(bytes& hello) {
  const size_t body = hello.size() - 25;
  hello[11] = uint8_t((hello.size() - 13) >> 8);
  hello[12] = uint8_t(hello.size() - 13);
  for (size_t at : {size_t{14}, size_t{22}}) {
    hello[at] = uint8_t(body >> 16);
    hello[at + 1] = uint8_t(body >> 8);
    hello[at + 2] = uint8_t(body);
  }
}

// The ClientHello with its cookie replaced; `tail` bytes of what followed
// the old cookie are kept (all of them by default).
bytes with_cookie(const bytes& hello, const bytes& cookie,
                  size_t tail = std::numeric_limits<size_t>::max()) {
  const size_t at = cookie_len_offset(hello);
  const size_t end = cookie_end(hello);
  bytes out(hello.begin(), hello.begin() + at);
  out.push_back(uint8_t(cookie.size()));
  out.insert(out.end(), cookie.begin(), cookie.end());
  out.insert(out.end(), hello.begin() + end,
             hello.begin() + end + std::min(tail, hello.size() - end));
  fix_lengths(out);
  return out;
}

// The ClientHello with its session_id replaced (the length byte says
// sid.size() even beyond 32, as a hostile client may send).
bytes with_session_id(const bytes& hello, const bytes& sid) {
  bytes out(hello.begin(), hello.begin() + kSessionIdLenOffset);
  out.push_back(uint8_t(sid.size()));
  out.insert(out.end(), sid.begin(), sid.end());
  out.insert(out.end(), hello.begin() + cookie_len_offset(hello), hello.end());
  fix_lengths(out);
  return out;
}

// The cookie libgnutls's own gnutls_dtls_cookie_send writes.
bytes gnutls_cookie(const bytes& key, const bytes& client_data) {
  bytes pushed;
  auto push = [](gnutls_transport_ptr_t p, const void* d, size_t n) -> ssize_t {
    auto* out = static_cast<bytes*>(p);
    const auto* b = static_cast<const uint8_t*>(d);
    out->assign(b, b + n);
    return ssize_t(n);
  };
  gnutls_datum_t k{const_cast<uint8_t*>(key.data()), unsigned(key.size())};
  gnutls_dtls_prestate_st ps{};
  const int rc =
      gnutls_dtls_cookie_send(&k, const_cast<uint8_t*>(client_data.data()),
                              client_data.size(), &ps, &pushed, push);
  EXPECT_EQ(rc, 44);
  if (pushed.size() != 44) return bytes(gc::kCookieLen);
  return bytes(pushed.begin() + kHvrCookieOffset, pushed.end());
}

bytes sockaddr_v4(const char* addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
  const auto* p = reinterpret_cast<const uint8_t*>(&sa);
  return bytes(p, p + sizeof sa);
}

bytes sockaddr_v6(const char* addr, uint16_t port, uint32_t scope = 0) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  sa.sin6_scope_id = scope;
  EXPECT_EQ(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
  const auto* p = reinterpret_cast<const uint8_t*>(&sa);
  return bytes(p, p + sizeof sa);
}

bytes pattern(size_t n, uint8_t seed) {
  bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
  return b;
}

// Keys of the sizes that matter to HMAC: tiny, the suggested 16, the hash
// size, one block, and longer than a block (hashed first).
const std::vector<bytes>& keys() {
  static const std::vector<bytes> all = {pattern(1, 0x11),  pattern(16, 0x22),
                                         pattern(20, 0x33), pattern(64, 0x44),
                                         pattern(65, 0x55), pattern(200, 0x66)};
  return all;
}

const std::vector<bytes>& client_datas() {
  static const std::vector<bytes> all = {
      sockaddr_v4("127.0.0.1", 4433),
      sockaddr_v4("192.0.2.7", 65535),
      sockaddr_v6("::1", 4433),
      sockaddr_v6("2001:db8::1", 1, 3),
      bytes(sizeof(sockaddr_storage), 0x5a),
      pattern(1, 0x01),
      pattern(7, 0x02),
      pattern(300, 0x03),
      bytes{},
  };
  return all;
}

// What the application's push function does with the record.
struct sink {
  std::function<ssize_t(size_t)> reply;
  bytes pushed;
  int calls = 0;
};

ssize_t sink_push(void* ptr, const void* data, size_t size) {
  auto* s = static_cast<sink*>(ptr);
  const auto* b = static_cast<const uint8_t*>(data);
  s->pushed.assign(b, b + size);
  ++s->calls;
  return s->reply(size);
}

// Runs both implementations on each case and records every disagreement;
// the label of a case is only built when it fails.
class differ {
 public:
  using label = std::function<std::string()>;

  int verify(const gnutls_datum_t* gkey, const gc::datum* okey, const void* cd,
             size_t cds, const uint8_t* msg, size_t size, const label& what,
             bool null_prestate = false) {
    ++cases_;
    gnutls_dtls_prestate_st gp;
    std::memset(&gp, 0xa5, sizeof gp);
    dtls_cookie::prestate op{kSentinel64, kSentinel32, kSentinel32};
    const int grc = gnutls_dtls_cookie_verify(
        const_cast<gnutls_datum_t*>(gkey), const_cast<void*>(cd), cds,
        const_cast<uint8_t*>(msg), size, null_prestate ? nullptr : &gp);
    const int orc = gc::cookie_verify(okey, cd, cds, msg, size,
                                      null_prestate ? nullptr : &op);
    ++outcomes_[grc];
    if (orc != grc) {
      mismatch(what, "verify returns " + std::to_string(orc) + ", libgnutls " +
                         std::to_string(grc));
    } else if (grc == 0 && !null_prestate) {
      if (op.record_seq != gp.record_seq ||
          op.hsk_read_seq != gp.hsk_read_seq ||
          op.hsk_write_seq != gp.hsk_write_seq)
        mismatch(what, "prestate " + str(op) + ", libgnutls " + str(gp));
    } else if (!null_prestate) {
      if (op.record_seq != kSentinel64 || op.hsk_read_seq != kSentinel32 ||
          op.hsk_write_seq != kSentinel32)
        mismatch(what, "failed verify wrote prestate " + str(op));
      if (gp.record_seq != kSentinel32 || gp.hsk_read_seq != kSentinel32 ||
          gp.hsk_write_seq != kSentinel32)
        mismatch(what, "failed libgnutls verify wrote prestate " + str(gp));
    }
    return grc;
  }

  int verify(const bytes& key, const bytes& cd, const bytes& msg,
             const label& what) {
    gnutls_datum_t gk{const_cast<uint8_t*>(key.data()), unsigned(key.size())};
    gc::datum ok{key.data(), key.size()};
    return verify(&gk, &ok, cd.data(), cd.size(), msg.data(), msg.size(), what);
  }

  // Both sides get the same prestate values (ours is wider: record_seq
  // keeps 48 bits, libgnutls's the low 32) and the same push behaviour.
  int send(const gnutls_datum_t* gkey, const gc::datum* okey, const bytes& cd,
           uint64_t record_seq, uint32_t hsk_read_seq, uint32_t hsk_write_seq,
           const std::function<ssize_t(size_t)>& reply, const label& what) {
    ++cases_;
    gnutls_dtls_prestate_st gp{unsigned(record_seq), hsk_read_seq,
                               hsk_write_seq};
    const dtls_cookie::prestate op{record_seq, hsk_read_seq, hsk_write_seq};
    sink gs{reply, {}, 0};
    sink os{reply, {}, 0};
    const int grc = gnutls_dtls_cookie_send(const_cast<gnutls_datum_t*>(gkey),
                                            const_cast<uint8_t*>(cd.data()),
                                            cd.size(), &gp, &gs, sink_push);
    const int orc =
        gc::cookie_send(okey, cd.data(), cd.size(), &op, &os, sink_push);
    ++outcomes_[grc];
    if (orc != grc)
      mismatch(what, "send returns " + std::to_string(orc) + ", libgnutls " +
                         std::to_string(grc));
    if (os.calls != gs.calls)
      mismatch(what, "push called " + std::to_string(os.calls) +
                         " times, by libgnutls " + std::to_string(gs.calls));
    if (os.pushed != gs.pushed)
      mismatch(what,
               "pushed " + hex(os.pushed) + ", libgnutls " + hex(gs.pushed));
    last_pushed_ = gs.pushed;
    return grc;
  }

  int send(const bytes& key, const bytes& cd, uint64_t record_seq,
           uint32_t hsk_write_seq, const std::function<ssize_t(size_t)>& reply,
           const label& what) {
    gnutls_datum_t gk{const_cast<uint8_t*>(key.data()), unsigned(key.size())};
    gc::datum ok{key.data(), key.size()};
    return send(&gk, &ok, cd, record_seq, 0, hsk_write_seq, reply, what);
  }

  const bytes& last_pushed() const { return last_pushed_; }
  size_t cases() const { return cases_; }
  size_t count(int rc) const {
    const auto it = outcomes_.find(rc);
    return it == outcomes_.end() ? 0 : it->second;
  }

  // Reports the tally; every test ends with this.
  void finish(size_t min_cases) {
    std::string tally;
    for (const auto& [rc, n] : outcomes_)
      tally += " rc " + std::to_string(rc) + ": " + std::to_string(n) + ";";
    std::cout << "[ cases    ] " << cases_ << " compared with libgnutls;"
              << tally << "\n";
    ::testing::Test::RecordProperty("cases", std::to_string(cases_));
    g_total_cases += cases_;
    EXPECT_EQ(mismatches_, 0u) << "disagreements with libgnutls";
    EXPECT_GE(cases_, min_cases);
  }

 private:
  static std::string str(const dtls_cookie::prestate& p) {
    return "{" + std::to_string(p.record_seq) + ", " +
           std::to_string(p.hsk_read_seq) + ", " +
           std::to_string(p.hsk_write_seq) + "}";
  }
  static std::string str(const gnutls_dtls_prestate_st& p) {
    return "{" + std::to_string(p.record_seq) + ", " +
           std::to_string(p.hsk_read_seq) + ", " +
           std::to_string(p.hsk_write_seq) + "}";
  }

  void mismatch(const label& what, const std::string& detail) {
    // Past a few, more reports of one systematic difference only add noise.
    if (++mismatches_ <= 12) ADD_FAILURE() << what() << ": " << detail;
  }

  size_t cases_ = 0;
  size_t mismatches_ = 0;
  std::map<int, size_t> outcomes_;
  bytes last_pushed_;
};

uint64_t test_seed() {
  if (const char* s = std::getenv("DC_TEST_SEED")) return std::stoull(s);
  return std::random_device{}();
}

// Prints the grand total once every test of the suite has run.
class total_cases_report : public ::testing::Environment {
 public:
  void TearDown() override {
    const auto* suite = find_suite();
    if (suite == nullptr || g_total_cases == 0) return;
    std::cout << "[ cases    ] GnutlsCompat total: " << g_total_cases
              << " cases compared with libgnutls\n";
    if (suite->test_to_run_count() == suite->total_test_count()) {
      EXPECT_GE(g_total_cases, 20000u);
    }
  }

 private:
  static const ::testing::TestSuite* find_suite() {
    const auto* unit = ::testing::UnitTest::GetInstance();
    for (int i = 0; i < unit->total_test_suite_count(); ++i)
      if (std::string(unit->GetTestSuite(i)->name()) == "GnutlsCompat")
        return unit->GetTestSuite(i);
    return nullptr;
  }
};

[[maybe_unused]] auto* const g_report =
    ::testing::AddGlobalTestEnvironment(new total_cases_report);

ssize_t full(size_t n) { return ssize_t(n); }

TEST(GnutlsCompat, FixturesAreRealClientHellos) {
  ASSERT_EQ(fixture_key().size(), 16u);
  for (const auto& c : captures()) {
    SCOPED_TRACE(c.name);
    for (const bytes* h : {&c.first, &c.second}) {
      ASSERT_GT(h->size(), 100u);
      EXPECT_EQ((*h)[0], 22);  // handshake record
      EXPECT_EQ((*h)[13], 1);  // ClientHello
      EXPECT_LE((*h)[kSessionIdLenOffset], 32);
      ASSERT_LT(cookie_end(*h), h->size());
    }
    EXPECT_EQ(c.first[cookie_len_offset(c.first)], 0);
    EXPECT_EQ(c.second[cookie_len_offset(c.second)], 16);
    EXPECT_EQ(c.client_data.size(), sizeof(sockaddr_in));
  }
}

// The capture script made each cookie with Python's HMAC: libgnutls and
// the library must both accept it, and both refuse the first ClientHello.
TEST(GnutlsCompat, CapturedClientHellos) {
  differ d;
  for (const auto& c : captures()) {
    SCOPED_TRACE(c.name);
    auto label = [&](const char* which) {
      return [&c, which] { return c.name + " " + which; };
    };
    EXPECT_EQ(d.verify(fixture_key(), c.client_data, c.second, label("second")),
              0);
    EXPECT_EQ(d.verify(fixture_key(), c.client_data, c.first, label("first")),
              dtls_cookie::kErrBadCookie);
    // The same datagrams under every other key and client data.
    for (const auto& k : keys())
      for (const auto& cd : client_datas())
        for (const bytes* h : {&c.first, &c.second})
          EXPECT_EQ(d.verify(k, cd, *h, label("other key or client")),
                    dtls_cookie::kErrBadCookie);
  }
  d.finish(400);
}

// Every prefix of every capture, with the key and client data that make
// the full second ClientHello valid. This settles where the datagram may
// end: PROTOCOL.md says at least one byte must follow the cookie.
TEST(GnutlsCompat, Truncations) {
  differ d;
  for (const auto& c : captures()) {
    for (const bytes* h : {&c.first, &c.second}) {
      const std::string which = h == &c.first ? "first" : "second";
      for (size_t n = 0; n <= h->size(); ++n) {
        const bytes cut(h->begin(), h->begin() + n);
        const int rc =
            d.verify(fixture_key(), c.client_data, cut, [&c, &which, n] {
              return c.name + " " + which + " cut to " + std::to_string(n);
            });
        // Independent of both implementations: the lengths as read off
        // the fixture by hand.
        if (n <= cookie_end(*h)) {
          EXPECT_EQ(rc, dtls_cookie::kErrUnexpectedPacketLength)
              << c.name << " " << which << " " << n;
        } else {
          EXPECT_EQ(rc, h == &c.second ? 0 : dtls_cookie::kErrBadCookie)
              << c.name << " " << which << " " << n;
        }
      }
    }
  }
  d.finish(1000);
}

// Cookies of every length 0..255 in a real ClientHello: the valid MAC
// (from libgnutls's own send) where the length is 16, and for the other
// lengths the valid MAC cut short or padded, and random bytes. Each with
// all, one or none of the bytes that followed the cookie.
TEST(GnutlsCompat, CookieLengths) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  differ d;
  const auto& base = captures()[0].first;
  for (const auto& key : {keys()[1], keys()[4]}) {
    for (const auto& cd : {client_datas()[0], client_datas()[3]}) {
      const bytes mac = gnutls_cookie(key, cd);
      for (size_t len = 0; len <= 255; ++len) {
        bytes prefix_padded(len);
        for (size_t i = 0; i < len; ++i)
          prefix_padded[i] = i < mac.size() ? mac[i] : uint8_t(rng());
        bytes noise(len);
        for (auto& b : noise) b = uint8_t(rng());
        for (const bytes* cookie : {&prefix_padded, &noise}) {
          for (size_t tail :
               {std::numeric_limits<size_t>::max(), size_t{1}, size_t{0}}) {
            const bytes msg = with_cookie(base, *cookie, tail);
            const int rc = d.verify(key, cd, msg, [&, len, tail] {
              return "cookie length " + std::to_string(len) + " tail " +
                     std::to_string(tail) + " cookie " + hex(*cookie);
            });
            if (tail == 0) {
              EXPECT_EQ(rc, dtls_cookie::kErrUnexpectedPacketLength);
            } else if (len == 16 && cookie == &prefix_padded) {
              EXPECT_EQ(rc, 0);
            } else if (len != 16) {
              EXPECT_EQ(rc, dtls_cookie::kErrBadCookie);
            }
          }
        }
      }
    }
  }
  d.finish(6000);
}

// Flipping any bit of a valid cookie must make both refuse it; flipping
// any bit elsewhere in the datagram must make both decide the same way.
TEST(GnutlsCompat, BitFlips) {
  differ d;
  size_t cookie_flips = 0;
  for (const auto& c : captures()) {
    const size_t first_cookie_byte = cookie_len_offset(c.second) + 1;
    for (size_t byte = 0; byte < c.second.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        bytes msg = c.second;
        msg[byte] ^= uint8_t(1 << bit);
        const int rc =
            d.verify(fixture_key(), c.client_data, msg, [&c, byte, bit] {
              return c.name + " second, bit " + std::to_string(bit) +
                     " of byte " + std::to_string(byte) + " flipped";
            });
        if (byte >= first_cookie_byte && byte < first_cookie_byte + 16) {
          ++cookie_flips;
          EXPECT_EQ(rc, dtls_cookie::kErrBadCookie);
        }
      }
    }
  }
  EXPECT_EQ(cookie_flips, 4u * 128u);
  d.finish(4000);
}

// session_id length bytes 0..255: up to 32 followed by that many bytes and
// a valid cookie; beyond 32 refused whatever follows.
TEST(GnutlsCompat, SessionIdLengths) {
  differ d;
  for (const auto& c : captures()) {
    for (size_t len = 0; len <= 255; ++len) {
      const bytes msg = with_session_id(c.second, pattern(len, uint8_t(len)));
      const int rc = d.verify(fixture_key(), c.client_data, msg, [&c, len] {
        return c.name + " session_id length " + std::to_string(len);
      });
      EXPECT_EQ(rc, len <= 32 ? 0 : dtls_cookie::kErrUnexpectedPacketLength)
          << len;
      // Only the length byte changed, the session_id bytes are absent:
      // the cookie is read from inside the old session_id or cookie.
      bytes raw = c.second;
      raw[kSessionIdLenOffset] = uint8_t(len);
      d.verify(fixture_key(), c.client_data, raw, [&c, len] {
        return c.name + " session_id length byte " + std::to_string(len);
      });
    }
  }
  d.finish(2000);
}

// What verify keeps in the prestate: the low bytes of the record sequence
// and message_seq, whatever the higher bytes say.
TEST(GnutlsCompat, SequenceBytes) {
  differ d;
  const auto& c = captures()[2];
  for (size_t at : {size_t{5}, size_t{9}, size_t{10}, size_t{17}, size_t{18}}) {
    for (int v = 0; v <= 255; ++v) {
      bytes msg = c.second;
      msg[at] = uint8_t(v);
      dtls_cookie::prestate ps{kSentinel64, kSentinel32, kSentinel32};
      gc::datum key{fixture_key().data(), fixture_key().size()};
      ASSERT_EQ(
          gc::cookie_verify(&key, c.client_data.data(), c.client_data.size(),
                            msg.data(), msg.size(), &ps),
          0);
      EXPECT_EQ(ps.record_seq, msg[10]);
      EXPECT_EQ(ps.hsk_read_seq, msg[18]);
      EXPECT_EQ(ps.hsk_write_seq, 0u);
      d.verify(fixture_key(), c.client_data, msg, [at, v] {
        return "byte " + std::to_string(at) + " = " + std::to_string(v);
      });
    }
  }
  d.finish(1000);
}

// Cookies that libgnutls made for one client data verify for that client
// data only, under both implementations; and libgnutls accepts what the
// library sends.
TEST(GnutlsCompat, ClientDataKinds) {
  differ d;
  const auto& base = captures()[0].first;
  for (size_t ki = 0; ki < keys().size(); ++ki) {
    const auto& key = keys()[ki];
    for (size_t i = 0; i < client_datas().size(); ++i) {
      const bytes msg =
          with_cookie(base, gnutls_cookie(key, client_datas()[i]));
      for (size_t j = 0; j < client_datas().size(); ++j) {
        const int rc = d.verify(key, client_datas()[j], msg, [ki, i, j] {
          return "key " + std::to_string(ki) + ", cookie for client data " +
                 std::to_string(i) + ", verified for " + std::to_string(j);
        });
        EXPECT_EQ(rc, i == j ? 0 : dtls_cookie::kErrBadCookie);
      }
      // Our send's cookie, checked by libgnutls.
      d.send(key, client_datas()[i], 0, 0, full, [ki, i] {
        return "send key " + std::to_string(ki) + " client data " +
               std::to_string(i);
      });
      sink ours{full, {}, 0};
      gc::datum ok{key.data(), key.size()};
      ASSERT_EQ(
          gc::cookie_send(&ok, client_datas()[i].data(),
                          client_datas()[i].size(), nullptr, &ours, sink_push),
          44);
      const bytes cookie(ours.pushed.begin() + kHvrCookieOffset,
                         ours.pushed.end());
      EXPECT_EQ(d.verify(key, client_datas()[i], with_cookie(base, cookie),
                         [] { return std::string("our cookie"); }),
                0);
    }
  }
  d.finish(500);
}

// The cookie bytes of a HelloVerifyRequest are HMAC-SHA1 truncated to 16,
// checked with libgnutls's HMAC rather than with either send.
TEST(GnutlsCompat, CookieIsTruncatedHmacSha1) {
  differ d;
  for (const auto& key : keys()) {
    for (const auto& cd : client_datas()) {
      ASSERT_EQ(d.send(key, cd, 0, 0, full, [] { return std::string("send"); }),
                44);
      uint8_t digest[20];
      ASSERT_EQ(gnutls_hmac_fast(GNUTLS_MAC_SHA1, key.data(), key.size(),
                                 cd.data(), cd.size(), digest),
                0);
      EXPECT_EQ(hex(d.last_pushed()).substr(2 * kHvrCookieOffset),
                hex(digest, 16));
      EXPECT_EQ(hex(d.last_pushed()).substr(0, 2 * kHvrCookieOffset),
                "16feff0000000000000000001f030000130000000000000013feff10");
    }
  }
  d.finish(50);
}

// Random byte strings of random lengths, and real ClientHellos with random
// bytes overwritten, cut or extended.
TEST(GnutlsCompat, RandomDatagrams) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  differ d;
  const bytes& key = fixture_key();

  for (int i = 0; i < 20000; ++i) {
    bytes msg(rng() % 320);
    for (auto& b : msg) b = uint8_t(rng());
    // Half of them get a plausible session_id length, or nearly all
    // would stop there.
    if (msg.size() > kSessionIdLenOffset && (i & 1))
      msg[kSessionIdLenOffset] = uint8_t(rng() % 40);
    const auto& cd = client_datas()[rng() % client_datas().size()];
    d.verify(key, cd, msg, [&msg, i] {
      return "random " + std::to_string(i) + ": " + hex(msg);
    });
  }

  for (int i = 0; i < 30000; ++i) {
    const auto& c = captures()[rng() % captures().size()];
    bytes msg = c.second;
    for (int edits = int(rng() % 4); edits > 0; --edits)
      msg[rng() % msg.size()] = uint8_t(rng());
    switch (rng() % 4) {
      case 0:
        msg.resize(rng() % (msg.size() + 1));
        break;
      case 1:
        msg.resize(cookie_end(c.second) + rng() % 3);
        break;
      case 2:
        msg.resize(msg.size() + rng() % 64, uint8_t(rng()));
        break;
      default:
        break;
    }
    d.verify(key, c.client_data, msg, [&msg, i] {
      return "mutated " + std::to_string(i) + ": " + hex(msg);
    });
  }
  // The mutations must reach every outcome, or they test little.
  EXPECT_GT(d.count(0), 1000u);
  EXPECT_GT(d.count(dtls_cookie::kErrUnexpectedPacketLength), 1000u);
  EXPECT_GT(d.count(dtls_cookie::kErrBadCookie), 1000u);
  d.finish(50000);
}

// send with every record_seq and hsk_write_seq in 0..300, then with large
// ones: only the low byte of each reaches the wire.
TEST(GnutlsCompat, SendSequenceGrid) {
  differ d;
  const bytes& key = keys()[1];
  const bytes& cd = client_datas()[0];
  for (uint32_t r = 0; r <= 300; ++r) {
    for (uint32_t w = 0; w <= 300; ++w) {
      const int rc = d.send(key, cd, r, w, full, [r, w] {
        return "record_seq " + std::to_string(r) + " hsk_write_seq " +
               std::to_string(w);
      });
      ASSERT_EQ(rc, 44);
      ASSERT_EQ(d.last_pushed()[10], uint8_t(r));
      ASSERT_EQ(d.last_pushed()[18], uint8_t(w));
    }
  }
  const uint32_t large[] = {255,        256,        257,        65535,
                            65536,      0xffffff,   0x1000000,  0x12345678,
                            0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
  for (uint32_t r : large)
    for (uint32_t w : large)
      d.send(key, cd, r, w, full, [r, w] {
        return "record_seq " + std::to_string(r) + " hsk_write_seq " +
               std::to_string(w);
      });
  // hsk_read_seq plays no part in send.
  gnutls_datum_t gk{const_cast<uint8_t*>(key.data()), unsigned(key.size())};
  gc::datum ok{key.data(), key.size()};
  for (uint32_t h : large)
    d.send(&gk, &ok, cd, 7, h, 9, full,
           [h] { return "hsk_read_seq " + std::to_string(h); });
  // Our record_seq is 48 bits wide; the bits above libgnutls's 32 are not
  // sent either.
  for (uint64_t r : {0x100000000ull, 0x1000000000abull, 0xffffffffffffull})
    d.send(key, cd, r, 3, full,
           [r] { return "48-bit record_seq " + std::to_string(r); });
  d.finish(90000);
}

// push returning the size, 0, a short count, any negative value, and
// values beyond int: the return is what libgnutls returns.
TEST(GnutlsCompat, SendPushReturns) {
  differ d;
  const std::vector<std::pair<std::string, std::function<ssize_t(size_t)>>>
      replies = {
          {"size", full},
          {"zero", [](size_t) -> ssize_t { return 0; }},
          {"one", [](size_t) -> ssize_t { return 1; }},
          {"half", [](size_t n) -> ssize_t { return ssize_t(n / 2); }},
          {"size-1", [](size_t n) -> ssize_t { return ssize_t(n) - 1; }},
          {"size+1", [](size_t n) -> ssize_t { return ssize_t(n) + 1; }},
          {"-1", [](size_t) -> ssize_t { return -1; }},
          {"-2", [](size_t) -> ssize_t { return -2; }},
          {"-53", [](size_t) -> ssize_t { return -53; }},
          {"INT_MIN", [](size_t) -> ssize_t { return INT32_MIN; }},
          {"INT_MAX", [](size_t) -> ssize_t { return INT32_MAX; }},
          {"2^31", [](size_t) -> ssize_t { return 0x80000000ll; }},
          {"2^32+44", [](size_t) -> ssize_t { return 0x10000002cll; }},
          {"-2^32", [](size_t) -> ssize_t { return -0x100000000ll; }},
          {"SSIZE_MAX",
           [](size_t) -> ssize_t {
             return std::numeric_limits<ssize_t>::max();
           }},
          {"SSIZE_MIN",
           [](size_t) -> ssize_t {
             return std::numeric_limits<ssize_t>::min();
           }},
      };
  for (const auto& [name, reply] : replies) {
    for (const auto& key : keys()) {
      for (const auto& cd : client_datas()) {
        for (uint32_t seq : {0u, 1u, 255u, 256u}) {
          const int rc = d.send(key, cd, seq, seq, reply,
                                [&name] { return "push returns " + name; });
          if (name == "-1" || name == "-2") {
            EXPECT_EQ(rc, dtls_cookie::kErrPushError);
          } else if (name == "zero") {
            EXPECT_EQ(rc, 0);
          } else if (name == "half") {
            EXPECT_EQ(rc, 22);
          }
        }
      }
    }
  }
  d.finish(3000);
}

// A missing key in any of its forms: libgnutls checks it before touching
// anything else, so every other argument may be anything.
TEST(GnutlsCompat, InvalidKeys) {
  differ d;
  const uint8_t some[16] = {1, 2, 3};
  const std::vector<std::pair<gnutls_datum_t, gc::datum>> bad = {
      {{const_cast<uint8_t*>(some), 0}, {some, 0}},
      {{nullptr, 16}, {nullptr, 16}},
      {{nullptr, 0}, {nullptr, 0}},
  };
  const auto& c = captures()[0];
  for (size_t i = 0; i <= bad.size(); ++i) {
    const gnutls_datum_t* gk = i < bad.size() ? &bad[i].first : nullptr;
    const gc::datum* ok = i < bad.size() ? &bad[i].second : nullptr;
    for (const auto& cd : client_datas()) {
      for (const bytes* h : {&c.first, &c.second}) {
        EXPECT_EQ(d.verify(gk, ok, cd.data(), cd.size(), h->data(), h->size(),
                           [i] { return "bad key " + std::to_string(i); }),
                  dtls_cookie::kErrInvalidRequest);
        EXPECT_EQ(
            d.verify(gk, ok, cd.data(), cd.size(), h->data(), 3,
                     [i] { return "bad key, short " + std::to_string(i); }),
            dtls_cookie::kErrInvalidRequest);
      }
      EXPECT_EQ(d.send(gk, ok, cd, 1, 2, 3, full,
                       [i] { return "send, bad key " + std::to_string(i); }),
                dtls_cookie::kErrInvalidRequest);
    }
  }
  d.finish(80);
}

// Null pointers where libgnutls does not dereference them: it never reads
// the message below 60 bytes, the prestate on failure, or the client data
// before the cookie length is right.
TEST(GnutlsCompat, NullArgumentsLibgnutlsSurvives) {
  differ d;
  const bytes& key = fixture_key();
  gnutls_datum_t gk{const_cast<uint8_t*>(key.data()), unsigned(key.size())};
  gc::datum ok{key.data(), key.size()};
  const auto& c = captures()[1];
  for (size_t n = 0; n < 60; ++n)
    d.verify(&gk, &ok, c.client_data.data(), c.client_data.size(), nullptr, n,
             [n] { return "null message of size " + std::to_string(n); });
  for (const bytes* h : {&c.first, &c.second}) {
    for (size_t n = 0; n <= h->size(); ++n) {
      // With the wrong client data the cookie never verifies, so
      // libgnutls never reaches the prestate.
      const bytes& cd = client_datas()[1];
      d.verify(
          &gk, &ok, cd.data(), cd.size(), h->data(), n,
          [n] { return "null prestate, size " + std::to_string(n); }, true);
      if (n <= cookie_end(*h) || h == &c.first)
        d.verify(&gk, &ok, nullptr, 16, h->data(), n,
                 [n] { return "null client data, size " + std::to_string(n); });
    }
  }
  // Empty client data, with and without a pointer.
  const bytes msg = with_cookie(c.first, gnutls_cookie(key, {}));
  EXPECT_EQ(d.verify(&gk, &ok, nullptr, 0, msg.data(), msg.size(),
                     [] { return std::string("null empty client data"); }),
            0);
  EXPECT_EQ(d.verify(&gk, &ok, msg.data(), 0, msg.data(), msg.size(),
                     [] { return std::string("empty client data"); }),
            0);
  d.finish(500);
}

// Where libgnutls would crash (it dereferences the pointer), the library
// refuses with kErrInvalidRequest instead, or for send without a prestate
// sends what libgnutls sends for an all-zero one.
TEST(GnutlsCompat, NullArgumentsOnlyOurs) {
  differ d;
  const bytes& key = fixture_key();
  gc::datum ok{key.data(), key.size()};
  const auto& c = captures()[3];
  dtls_cookie::prestate ps{kSentinel64, kSentinel32, kSentinel32};
  sink s{full, {}, 0};

  EXPECT_EQ(gc::cookie_verify(&ok, c.client_data.data(), c.client_data.size(),
                              c.second.data(), c.second.size(), nullptr),
            dtls_cookie::kErrInvalidRequest);
  EXPECT_EQ(gc::cookie_verify(&ok, c.client_data.data(), c.client_data.size(),
                              nullptr, c.second.size(), &ps),
            dtls_cookie::kErrInvalidRequest);
  EXPECT_EQ(gc::cookie_verify(&ok, nullptr, 16, c.second.data(),
                              c.second.size(), &ps),
            dtls_cookie::kErrInvalidRequest);
  EXPECT_EQ(ps.record_seq, kSentinel64);
  EXPECT_EQ(ps.hsk_read_seq, kSentinel32);
  EXPECT_EQ(ps.hsk_write_seq, kSentinel32);

  EXPECT_EQ(gc::cookie_send(&ok, c.client_data.data(), c.client_data.size(),
                            &ps, &s, nullptr),
            dtls_cookie::kErrInvalidRequest);
  EXPECT_EQ(gc::cookie_send(&ok, nullptr, 16, &ps, &s, sink_push),
            dtls_cookie::kErrInvalidRequest);
  EXPECT_EQ(s.calls, 0);

  ASSERT_EQ(gc::cookie_send(&ok, c.client_data.data(), c.client_data.size(),
                            nullptr, &s, sink_push),
            44);
  d.send(key, c.client_data, 0, 0, full,
         [] { return std::string("zero prestate"); });
  EXPECT_EQ(s.pushed, d.last_pushed());
  d.finish(1);
}

// The one documented departure: client data beyond kMaxClientData is
// refused, where libgnutls MACs any size.
TEST(GnutlsCompat, OversizedClientData) {
  differ d;
  const bytes& key = fixture_key();
  gc::datum ok{key.data(), key.size()};
  const bytes at_limit = pattern(gc::kMaxClientData, 9);
  const bytes over = pattern(gc::kMaxClientData + 1, 9);
  const auto& c = captures()[0];
  EXPECT_EQ(d.send(key, at_limit, 0, 0, full,
                   [] { return std::string("client data at the limit"); }),
            44);
  EXPECT_EQ(d.verify(key, at_limit,
                     with_cookie(c.first, gnutls_cookie(key, at_limit)),
                     [] { return std::string("client data at the limit"); }),
            0);

  sink s{full, {}, 0};
  EXPECT_EQ(
      gc::cookie_send(&ok, over.data(), over.size(), nullptr, &s, sink_push),
      dtls_cookie::kErrInvalidRequest);
  EXPECT_EQ(gnutls_cookie(key, over).size(), gc::kCookieLen);
  dtls_cookie::prestate ps;
  const bytes msg = with_cookie(c.first, gnutls_cookie(key, over));
  EXPECT_EQ(gc::cookie_verify(&ok, over.data(), over.size(), msg.data(),
                              msg.size(), &ps),
            dtls_cookie::kErrInvalidRequest);
  d.finish(2);
}

}  // namespace
