// The reply rate limit: to_config()'s settings and their validation, the
// model's bucket arithmetic on written-out values, the kernel's decisions
// on packets (bursts, prefixes, paths that are never limited) and the
// kernel held to the model frame by frame, time and bucket included.
#include <bpf/bpf.h>
#include <gmock/gmock.h>
#include <linux/bpf.h>
#include <time.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "bpf_test_util.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/model.hpp"
#include "test_seed.hpp"

namespace dtls_cookie::testing {
namespace {

using model::reply_key;
using ::testing::HasSubstr;

constexpr uint64_t kToken = DC_REPLY_TOKEN;
constexpr uint64_t kMs = 1000000;

const key kPrevious = test_key(60);
const key kCurrent = test_key(61);
const key_set kKeys(kCurrent, kPrevious);

responder_options limit_options(uint32_t rate, uint32_t burst,
                                unsigned prefix4 = 32, unsigned prefix6 = 64) {
  responder_options o = base_options();
  o.reply_rate = rate;
  o.reply_burst = burst;
  o.reply_prefix4 = prefix4;
  o.reply_prefix6 = prefix6;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

reply_key key_bytes(std::initializer_list<uint8_t> b) {
  reply_key k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

std::array<uint8_t, 16> mask_bytes(const uint8_t (&m)[16]) {
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), m, 16);
  return a;
}

// --- to_config --------------------------------------------------------------

TEST(ReplyLimitConfig, OnByDefaultWithDerivedFields) {
  const dc_reply_limit l = to_config(base_options()).reply_limit;
  EXPECT_EQ(l.rate, 1000u);
  EXPECT_EQ(l.burst, 2000u);
  EXPECT_EQ(l.prefix4, 32u);
  EXPECT_EQ(l.prefix6, 64u);
  EXPECT_EQ(l.table_size, 65536u);
  // 2000 replies at 1000 per second: two seconds from empty to full.
  EXPECT_EQ(l.fill_ns, 2'000'000'000u);
  EXPECT_EQ(mask_bytes(l.mask4),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(mask_bytes(l.mask6),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(ReplyLimitConfig, MasksFollowThePrefixLengths) {
  dc_reply_limit l = to_config(limit_options(5, 1, 24, 127)).reply_limit;
  EXPECT_EQ(mask_bytes(l.mask4),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}));
  EXPECT_EQ(mask_bytes(l.mask6),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}));
  l = to_config(limit_options(5, 1, 1, 1)).reply_limit;
  EXPECT_EQ(mask_bytes(l.mask4),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0x80}));
  EXPECT_EQ(mask_bytes(l.mask6), key_bytes({0x80}));
  l = to_config(limit_options(5, 1, 13, 128)).reply_limit;
  EXPECT_EQ(mask_bytes(l.mask4),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xf8}));
  EXPECT_EQ(mask_bytes(l.mask6),
            key_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(ReplyLimitConfig, FillTimeRoundsUp) {
  // One reply at three per second: 333 333 333.3 ns.
  EXPECT_EQ(to_config(limit_options(3, 1)).reply_limit.fill_ns, 333333334u);
  EXPECT_EQ(to_config(limit_options(DC_REPLY_RATE_MAX, DC_REPLY_BURST_MAX))
                .reply_limit.fill_ns,
            1'000'000'000u);
}

TEST(ReplyLimitConfig, RateZeroTurnsItOffWhole) {
  responder_options o = limit_options(0, 7, 20, 40);
  o.reply_table_size = 99;
  const dc_reply_limit l = to_config(o).reply_limit;
  const dc_reply_limit zero{};
  EXPECT_EQ(std::memcmp(&l, &zero, sizeof l), 0);
}

TEST(ReplyLimitConfig, RefusesOutOfRangeNamingTheField) {
  auto with = [](auto edit) {
    responder_options o = base_options();
    edit(o);
    return error_of([&] { to_config(o); });
  };
  EXPECT_EQ(with([](auto& o) { o.reply_rate = 10000001; }),
            "reply_rate is 10000001; it must be 0 to 10000000");
  EXPECT_EQ(with([](auto& o) { o.reply_burst = 0; }),
            "reply_burst is 0; it must be 1 to 10000000");
  EXPECT_THAT(with([](auto& o) { o.reply_burst = 10000001; }),
              HasSubstr("reply_burst is 10000001"));
  EXPECT_EQ(with([](auto& o) { o.reply_prefix4 = 0; }),
            "reply_prefix4 is 0; it must be 1 to 32");
  EXPECT_THAT(with([](auto& o) { o.reply_prefix4 = 33; }),
              HasSubstr("reply_prefix4 is 33"));
  EXPECT_EQ(with([](auto& o) { o.reply_prefix6 = 129; }),
            "reply_prefix6 is 129; it must be 1 to 128");
  EXPECT_THAT(with([](auto& o) { o.reply_prefix6 = 0; }),
              HasSubstr("reply_prefix6 is 0"));
  EXPECT_EQ(with([](auto& o) { o.reply_table_size = 0; }),
            "reply_table_size is 0; it must be 1 to 4194304");
  EXPECT_THAT(with([](auto& o) { o.reply_table_size = 4194305; }),
              HasSubstr("reply_table_size is 4194305"));
  // Off, a setting that could never act is still a mistake to report.
  EXPECT_THAT(with([](auto& o) {
                o.reply_rate = 0;
                o.reply_prefix4 = 40;
              }),
              HasSubstr("reply_prefix4 is 40"));
}

// --- the model's arithmetic -------------------------------------------------

TEST(ReplyLimitModel, KeyIsThePrefixOfTheDestination) {
  const dc_config cfg = to_config(limit_options(1, 1, 24, 56));
  EXPECT_EQ(model::reply_key_of(cfg, pk::ip_addr::parse("192.0.2.77")),
            key_bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2}));
  EXPECT_EQ(
      model::reply_key_of(cfg, pk::ip_addr::parse("2001:db8:1:2345:6::7")),
      key_bytes({0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x23}));
  const dc_config wide = to_config(limit_options(1, 1, 1, 1));
  EXPECT_EQ(model::reply_key_of(wide, pk::ip_addr::parse("203.0.113.5")),
            key_bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x80}));
  EXPECT_EQ(model::reply_key_of(wide, pk::ip_addr::parse("fe80::1")),
            key_bytes({0x80}));
}

TEST(ReplyLimitModel, BucketStartsFullAndRefillsExactly) {
  // Two replies, 1000 per second: a token per millisecond.
  const dc_config cfg = to_config(limit_options(1000, 2));
  const uint64_t t0 = 5'000 * kMs;
  model::reply_decision d = model::reply_take(cfg, std::nullopt, t0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.bucket.tokens, kToken);
  EXPECT_EQ(d.bucket.last_ns, t0);

  d = model::reply_take(cfg, d.bucket, t0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.bucket.tokens, 0u);

  // Half a millisecond is half a token: refused, and nothing stored.
  const dc_reply_bucket empty = d.bucket;
  d = model::reply_take(cfg, empty, t0 + kMs / 2);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.bucket.tokens, 0u);
  EXPECT_EQ(d.bucket.last_ns, t0);

  // 1.25 ms after the bucket's time: one token and a quarter left over.
  d = model::reply_take(cfg, empty, t0 + kMs + kMs / 4);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.bucket.tokens, kToken / 4);
  EXPECT_EQ(d.bucket.last_ns, t0 + kMs + kMs / 4);

  // An hour idle: full, never more.
  d = model::reply_take(cfg, empty, t0 + 3600'000 * kMs);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.bucket.tokens, kToken);

  // A time before the bucket's (another CPU stored a later one): no
  // refill, the time stays.
  d = model::reply_take(cfg, dc_reply_bucket{kToken + 3, t0}, t0 - kMs);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.bucket.tokens, 3u);
  EXPECT_EQ(d.bucket.last_ns, t0);
}

// --- the kernel on packets --------------------------------------------------

// Buckets left by an earlier test on the same (cached) program go.
void clear_buckets(const responder& prog) {
  const int fd = prog.reply_limit_fd();
  dc_reply_key k{};
  while (bpf_map_get_next_key(fd, nullptr, &k) == 0)
    ASSERT_EQ(bpf_map_delete_elem(fd, &k), 0);
}

size_t bucket_count(const responder& prog) {
  const int fd = prog.reply_limit_fd();
  dc_reply_key k{}, next{};
  size_t n = 0;
  for (int err = bpf_map_get_next_key(fd, nullptr, &next); err == 0;
       err = bpf_map_get_next_key(fd, &k, &next)) {
    k = next;
    ++n;
  }
  return n;
}

std::optional<dc_reply_bucket> read_bucket(const responder& prog,
                                           const reply_key& k) {
  dc_reply_bucket b{};
  if (bpf_map_lookup_elem(prog.reply_limit_fd(), k.data(), &b) != 0)
    return std::nullopt;
  return b;
}

void write_bucket(const responder& prog, const reply_key& k,
                  const dc_reply_bucket& b) {
  ASSERT_EQ(bpf_map_update_elem(prog.reply_limit_fd(), k.data(), &b, BPF_ANY),
            0);
}

// A ClientHello from src:port to the responder's port.
struct request {
  pk::udp_frame frame;
  pk::client_hello hello;
  pk::bytes bytes() const {
    pk::udp_frame f = frame;
    f.payload = pk::build(hello);
    return pk::build(f);
  }
};

request hello_from(const std::string& src, uint16_t port = 40000) {
  request r;
  const pk::ip_addr a = pk::ip_addr::parse(src);
  r.frame = a.v6 ? v6_request({}) : v4_request({});
  r.frame.src_ip = a;
  r.frame.src_port = port;
  r.hello.record_seq = 7;
  return r;
}

struct kernel_test {
  explicit kernel_test(const responder_options& o)
      : cfg(to_config(o)), prog(program(cfg)) {
    prog.publish_keys(kKeys);
    clear_buckets(prog);
    start = prog.read_counters();
  }

  // Runs r; "answered" means the exact reply, "limited" an untouched drop.
  bool answered(const request& r) {
    const pk::bytes in = r.bytes();
    const run_result got = prog.test_run(in);
    if (got.verdict == XDP_TX) {
      pk::udp_frame f = r.frame;
      f.payload = pk::build(r.hello);
      EXPECT_EQ(got.frame, reply_for(f, kCurrent, r.hello.record_seq));
      return true;
    }
    EXPECT_EQ(got.verdict, uint32_t(XDP_DROP));
    EXPECT_EQ(got.frame, in) << "a dropped frame is left as it came";
    return false;
  }

  // How many of n ClientHellos from src are answered.
  int answered_of(const std::string& src, int n) {
    int yes = 0;
    for (int i = 0; i < n; ++i) yes += answered(hello_from(src)) ? 1 : 0;
    return yes;
  }

  counters delta() const { return counter_delta(start, prog.read_counters()); }

  dc_config cfg;
  const responder& prog;
  counters start{};
};

// A counter set with only the given entries.
counters counts(std::initializer_list<std::pair<dc_counter, uint64_t>> l) {
  counters c{};
  for (auto [i, n] : l) c[i] = n;
  return c;
}

TEST(ReplyLimitKernel, BurstAnsweredThenDropped) {
  DC_REQUIRE_ROOT();
  // One reply per second: the whole test runs within one token's time.
  kernel_test t(limit_options(1, 5));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<bool> got;
  for (int i = 0; i < 8; ++i)
    got.push_back(t.answered(hello_from("192.0.2.10")));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_LT(took, std::chrono::milliseconds(500))
      << "too slow to stay within one token's time";
  EXPECT_EQ(got, (std::vector<bool>{true, true, true, true, true, false, false,
                                    false}));
  EXPECT_EQ(t.delta(), counts({{DC_CNT_ANSWERED_NO_COOKIE, 5},
                               {DC_CNT_XDP_TX, 5},
                               {DC_CNT_RATE_LIMITED, 3},
                               {DC_CNT_XDP_DROP, 3}}));
  // Another port of the same address is the same destination.
  EXPECT_FALSE(t.answered(hello_from("192.0.2.10", 40001)));
}

TEST(ReplyLimitKernel, OtherPrefixesKeepTheirOwnBuckets) {
  DC_REQUIRE_ROOT();
  kernel_test t(limit_options(1, 3));
  EXPECT_EQ(t.answered_of("2001:db8:1::10", 5), 3);
  EXPECT_EQ(t.answered_of("2001:db8:2::10", 4), 3) << "another /64";
  EXPECT_EQ(t.answered_of("192.0.2.10", 4), 3);
  EXPECT_EQ(t.answered_of("192.0.2.11", 1), 1) << "another /32";
  EXPECT_EQ(t.delta(), counts({{DC_CNT_ANSWERED_NO_COOKIE, 10},
                               {DC_CNT_XDP_TX, 10},
                               {DC_CNT_RATE_LIMITED, 4},
                               {DC_CNT_XDP_DROP, 4}}));
  EXPECT_EQ(bucket_count(t.prog), 4u);
}

TEST(ReplyLimitKernel, SourcesInOneIpv6PrefixShareItsBucket) {
  DC_REQUIRE_ROOT();
  kernel_test t(limit_options(1, 3));
  EXPECT_EQ(t.answered_of("2001:db8:1::10", 2), 2);
  EXPECT_EQ(t.answered_of("2001:db8:1:0:ffff:ffff:ffff:ffff", 1), 1);
  EXPECT_EQ(t.answered_of("2001:db8:1::99", 1), 0) << "the /64 is spent";
  EXPECT_EQ(t.answered_of("2001:db8:1:1::10", 1), 1) << "the next /64";
  const auto b = read_bucket(
      t.prog, key_bytes({0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00}));
  ASSERT_TRUE(b.has_value()) << "the bucket of 2001:db8:1::/64";
  EXPECT_LT(b->tokens, kToken);
}

TEST(ReplyLimitKernel, Ipv4PrefixOf24) {
  DC_REQUIRE_ROOT();
  kernel_test t(limit_options(1, 2, 24));
  EXPECT_TRUE(t.answered(hello_from("192.0.2.10")));
  EXPECT_TRUE(t.answered(hello_from("192.0.2.200")));
  EXPECT_FALSE(t.answered(hello_from("192.0.2.77")));
  EXPECT_TRUE(t.answered(hello_from("192.0.3.10")));
  EXPECT_TRUE(t.answered(hello_from("192.0.1.255")));
  EXPECT_EQ(bucket_count(t.prog), 3u);
  const auto b = read_bucket(
      t.prog, key_bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2}));
  ASSERT_TRUE(b.has_value()) << "the bucket of ::ffff:192.0.2.0";
  EXPECT_LT(b->tokens, kToken);
}

TEST(ReplyLimitKernel, RateZeroNeverLimitsAndIsPruned) {
  DC_REQUIRE_ROOT();
  kernel_test t(limit_options(0, 1));
  EXPECT_EQ(t.answered_of("192.0.2.10", 50), 50);
  EXPECT_EQ(t.answered_of("2001:db8:1::10", 50), 50);
  EXPECT_EQ(t.delta(),
            counts({{DC_CNT_ANSWERED_NO_COOKIE, 100}, {DC_CNT_XDP_TX, 100}}));
  EXPECT_EQ(bucket_count(t.prog), 0u);

  bpf_map_info map{};
  uint32_t len = sizeof map;
  ASSERT_EQ(bpf_obj_get_info_by_fd(t.prog.reply_limit_fd(), &map, &len), 0);
  EXPECT_EQ(map.max_entries, 1u) << "no table for a limit that is off";
  EXPECT_EQ(map.type, uint32_t(BPF_MAP_TYPE_LRU_HASH));

  // The verifier drops the limit's code when it knows the rate is 0.
  auto insns = [](const responder& p) {
    bpf_prog_info info{};
    uint32_t n = sizeof info;
    EXPECT_EQ(bpf_obj_get_info_by_fd(p.prog_fd(), &info, &n), 0);
    return info.xlated_prog_len / 8;
  };
  const responder& on = program(to_config(limit_options(1, 1)));
  EXPECT_LT(insns(t.prog) + 20, insns(on))
      << "off " << insns(t.prog) << " instructions, on " << insns(on);
}

TEST(ReplyLimitKernel, TableSizeIsTheMapsSize) {
  DC_REQUIRE_ROOT();
  responder_options o = limit_options(10, 10);
  o.reply_table_size = 1234;
  const responder& prog = program(to_config(o));
  bpf_map_info map{};
  uint32_t len = sizeof map;
  ASSERT_EQ(bpf_obj_get_info_by_fd(prog.reply_limit_fd(), &map, &len), 0);
  EXPECT_EQ(map.max_entries, 1234u);
  EXPECT_EQ(map.key_size, 16u);
  EXPECT_EQ(map.value_size, 16u);
}

TEST(ReplyLimitKernel, ValidCookiesAreNeverLimited) {
  DC_REQUIRE_ROOT();
  kernel_test t(limit_options(1, 2));
  EXPECT_EQ(t.answered_of("192.0.2.10", 3), 2);
  const reply_key k =
      model::reply_key_of(t.cfg, pk::ip_addr::parse("192.0.2.10"));
  const auto spent = read_bucket(t.prog, k);
  ASSERT_TRUE(spent.has_value());

  for (const key* g : {&kCurrent, &kPrevious}) {
    for (int i = 0; i < 10; ++i) {
      request r = hello_from("192.0.2.10");
      r.hello.cookie = cookie_for(*g, r.frame);
      const pk::bytes in = r.bytes();
      const run_result got = t.prog.test_run(in);
      EXPECT_EQ(got.verdict, uint32_t(XDP_PASS));
      EXPECT_EQ(got.frame, in);
    }
  }
  const auto after = read_bucket(t.prog, k);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->tokens, spent->tokens) << "no token taken";
  EXPECT_EQ(after->last_ns, spent->last_ns);
  EXPECT_EQ(t.delta(), counts({{DC_CNT_ANSWERED_NO_COOKIE, 2},
                               {DC_CNT_XDP_TX, 2},
                               {DC_CNT_RATE_LIMITED, 1},
                               {DC_CNT_XDP_DROP, 1},
                               {DC_CNT_VALID_COOKIE_CURRENT, 10},
                               {DC_CNT_VALID_COOKIE_PREVIOUS, 10},
                               {DC_CNT_XDP_PASS, 20}}));
}

TEST(ReplyLimitKernel, EveryAnswerPathIsLimitedAndNothingElse) {
  DC_REQUIRE_ROOT();
  responder_options o = limit_options(1, 1);
  o.dtls13 = DC_POLICY_ANSWER;
  kernel_test t(o);

  request bad = hello_from("192.0.2.10");
  bad.hello.cookie = cookie_for(test_key(99), bad.frame);
  EXPECT_TRUE(t.answered(bad));
  EXPECT_FALSE(t.answered(bad)) << "bad cookie";
  EXPECT_FALSE(t.answered(hello_from("192.0.2.10"))) << "no cookie";
  request v13 = hello_from("192.0.2.10");
  v13.hello.extensions = {pk::supported_versions({0xfefc, 0xfefd})};
  EXPECT_FALSE(t.answered(v13)) << "DTLS 1.3, answered as 1.2";
  // Unanswered datagrams go by their own policies, spent bucket or not.
  request broken = hello_from("192.0.2.10");
  broken.hello.cipher_suites.clear();
  const pk::bytes in = broken.bytes();
  EXPECT_EQ(t.prog.test_run(in).verdict, uint32_t(XDP_DROP));
  EXPECT_EQ(t.delta(), counts({{DC_CNT_ANSWERED_BAD_COOKIE, 1},
                               {DC_CNT_XDP_TX, 1},
                               {DC_CNT_RATE_LIMITED, 3},
                               {DC_CNT_MALFORMED, 1},
                               {DC_CNT_XDP_DROP, 4}}));

  // With the DTLS 1.3 policy pass, such a ClientHello is not an answer.
  const responder_options pass13 = limit_options(1, 1);
  kernel_test p(pass13);
  EXPECT_TRUE(p.answered(hello_from("192.0.2.10")));
  const pk::bytes in13 = v13.bytes();
  EXPECT_EQ(p.prog.test_run(in13).verdict, uint32_t(XDP_PASS));
  EXPECT_EQ(p.delta(), counts({{DC_CNT_ANSWERED_NO_COOKIE, 1},
                               {DC_CNT_XDP_TX, 1},
                               {DC_CNT_DTLS13, 1},
                               {DC_CNT_XDP_PASS, 1}}));
}

TEST(ReplyLimitKernel, TokensAccrueContinuously) {
  DC_REQUIRE_ROOT();
  // Ten replies per second: a token per 100 ms.
  kernel_test t(limit_options(10, 4));
  const reply_key k =
      model::reply_key_of(t.cfg, pk::ip_addr::parse("2001:db8:5::1"));
  // An empty bucket last refilled 250 ms ago holds two and a half tokens.
  write_bucket(t.prog, k, {0, model::reply_clock_ns() - 250 * kMs});
  const auto t0 = std::chrono::steady_clock::now();
  const int yes = t.answered_of("2001:db8:5::1", 4);
  ASSERT_LT(std::chrono::steady_clock::now() - t0,
            std::chrono::milliseconds(40))
      << "too slow: the half token left would have grown to a whole";
  EXPECT_EQ(yes, 2);
  const auto b = read_bucket(t.prog, k);
  ASSERT_TRUE(b.has_value());
  EXPECT_GE(b->tokens, kToken / 2) << "the half token is kept";
  EXPECT_LT(b->tokens, kToken);
}

// --- the kernel against the model, frame by frame ---------------------------

// The program and reply_clock_ns() read one clock (abi.h), but the copy
// that userspace reads may be updated a moment after the kernel's at a
// tick; a decision is only taken as certain when it holds over the
// widened window.
constexpr uint64_t kClockSlack = 50'000;

TEST(ReplyLimitKernel, MatchesTheModelFrameByFrame) {
  DC_REQUIRE_ROOT();
  // 500 replies per second, a burst of 3: a token per 2 ms, while a
  // prefix sees a ClientHello about every 1.3 ms, so buckets run dry and
  // refill all through the test.
  responder_options o = limit_options(500, 3, 24, 56);
  o.dtls13 = DC_POLICY_ANSWER;
  kernel_test t(o);
  const uint32_t seed = test_seed();
  const std::string note = seed_note(seed);
  std::mt19937 rng(seed);
  auto below = [&rng](uint32_t n) { return uint32_t(rng() % n); };
  const std::vector<std::string> nets4 = {"192.0.2.", "198.51.100.",
                                          "203.0.113.", "100.64.7."};
  // Each /56 ends inside the fourth group; two hex digits complete it.
  const std::vector<std::string> nets6 = {"2001:db8:0:1", "2001:db8:0:2",
                                          "2001:db8:7:77"};
  auto v6_host = [&](const std::string& net) {
    char tail[32];
    std::snprintf(tail, sizeof tail, "%02x:%x::%x", below(256), below(65536),
                  1 + below(999));
    return net + tail;
  };

  size_t limited = 0, refilled = 0, created = 0, untouched = 0, unsure = 0;
  int reported = 0;
  for (int i = 0; i < 3000 && reported < 5; ++i) {
    const std::string ctx = note + ", frame " + std::to_string(i);
    const uint16_t port = uint16_t(1024 + below(60000));
    request r =
        below(3) == 0
            ? hello_from(v6_host(nets6[below(3)]), port)
            : hello_from(nets4[below(4)] + std::to_string(1 + below(254)),
                         port);
    r.hello.record_seq = rng() & 0xffffff;
    switch (below(10)) {
      case 0:
        r.hello.cookie = cookie_for(kCurrent, r.frame);
        break;
      case 1:
        r.hello.cookie = cookie_for(kPrevious, r.frame);
        break;
      case 2:
        r.hello.cookie = cookie_for(test_key(99), r.frame);
        break;
      case 3:
        r.hello.extensions = {pk::supported_versions({0xfefc, 0xfefd})};
        break;
      default:
        break;
    }
    if (below(5) == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(below(1500)));

    const pk::bytes in = r.bytes();
    const reply_key k = model::reply_key_of(t.cfg, r.frame.src_ip);
    const auto before = read_bucket(t.prog, k);
    const counters c0 = t.prog.read_counters();
    const uint64_t lo = model::reply_clock_ns() - kClockSlack;
    const run_result got = t.prog.test_run(in);
    const uint64_t hi = model::reply_clock_ns() + kClockSlack;
    const counters c1 = t.prog.read_counters();
    const auto after = read_bucket(t.prog, k);

    model::reply_limit_state at_lo{lo, before, {}}, at_hi{hi, before, {}};
    const model::outcome m_lo = model::run(t.cfg, kKeys, in, at_lo);
    const model::outcome m_hi = model::run(t.cfg, kKeys, in, at_hi);
    if (m_lo.verdict != m_hi.verdict) ++unsure;

    // The model at the kernel's own time: the time a taken reply stored,
    // or for a refused one any time up to lo (more time, more tokens).
    model::reply_limit_state at{lo, before, {}};
    if (got.verdict == XDP_TX && after) at.now_ns = after->last_ns;
    const model::outcome m = model::run(t.cfg, kKeys, in, at);

    EXPECT_EQ(got.verdict, m.verdict) << ctx;
    EXPECT_EQ(got.frame, m.frame) << ctx;
    counters want{};
    ++want[m.reason];
    ++want[model::verdict_counter(m.verdict)];
    EXPECT_EQ(counter_delta(c0, c1), want) << ctx;
    if (at.asked) {
      ASSERT_TRUE(after.has_value()) << ctx;
      EXPECT_EQ(after->tokens, at.bucket->tokens) << ctx;
      EXPECT_EQ(after->last_ns, at.bucket->last_ns) << ctx;
      if (got.verdict == XDP_TX) {
        EXPECT_GE(after->last_ns, lo) << ctx;
        EXPECT_LE(after->last_ns, hi) << ctx;
      }
      if (!before)
        ++created;
      else if (got.verdict == XDP_TX)
        ++refilled;
      else
        ++limited;
    } else {
      ++untouched;
      EXPECT_EQ(before.has_value(), after.has_value()) << ctx;
      if (before && after) {
        EXPECT_EQ(before->tokens, after->tokens) << ctx;
        EXPECT_EQ(before->last_ns, after->last_ns) << ctx;
      }
    }
    if (HasFailure()) ++reported;  // a few frames past the first failure
  }
  std::printf(
      "[reply limit] %s: new buckets %zu, answered from a bucket %zu, "
      "limited %zu, limit not asked %zu, undecided by the clock alone %zu\n",
      note.c_str(), created, refilled, limited, untouched, unsure);
  // Every branch of the bucket arithmetic was taken, often; each prefix
  // got one bucket and kept it.
  EXPECT_EQ(created, nets4.size() + nets6.size()) << note;
  EXPECT_GE(refilled, 200u) << note;
  EXPECT_GE(limited, 200u) << note;
  EXPECT_GE(untouched, 300u) << note;
}

}  // namespace
}  // namespace dtls_cookie::testing
