// The self-check's own logic without a kernel: the frames it generates,
// its comparison and its report, driven by fake kernels that agree with
// the model, corrupt a byte or give the wrong verdict.
#include <gmock/gmock.h>
#include <linux/bpf.h>

#include <set>
#include <sstream>

#include "check.hpp"
#include "dtls_cookie/packet.hpp"
#include "test_seed.hpp"

namespace dtls_cookie::agent {
namespace {

using dtls_cookie::testing::seed_note;
using dtls_cookie::testing::test_seed;
using ::testing::HasSubstr;
using ::testing::Not;

key fixed_key(uint32_t generation) {
  key k;
  k.generation = generation;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(generation * 31 + i * 7 + 3);
  return k;
}

dc_config config() {
  responder_options o;
  o.ports = {4433, 5684};
  o.local_addrs = {packet::ip_addr::parse("203.0.113.7").mapped,
                   packet::ip_addr::parse("2001:db8::7").mapped};
  return to_config(o);
}

const key_set kKeys(fixed_key(9), fixed_key(8));

// A kernel that is the model itself.
run_result model_kernel(const dc_config& cfg, const key_set& keys,
                        std::span<const uint8_t> frame) {
  const auto out = model::run(cfg, keys, frame);
  return {out.verdict, out.frame, 40};
}

std::string hex(std::span<const uint8_t> b) {
  std::string s;
  char buf[3];
  for (uint8_t x : b) {
    std::snprintf(buf, sizeof buf, "%02x", x);
    s += buf;
  }
  return s;
}

TEST(SameResult, NeedsVerdictAndEveryByte) {
  const model::outcome want{XDP_TX, DC_CNT_ANSWERED_NO_COOKIE, {1, 2, 3}};
  EXPECT_TRUE(same_result(want, {XDP_TX, {1, 2, 3}, 0}));
  EXPECT_FALSE(same_result(want, {XDP_PASS, {1, 2, 3}, 0}));
  EXPECT_FALSE(same_result(want, {XDP_TX, {1, 2, 4}, 0}));
  EXPECT_FALSE(same_result(want, {XDP_TX, {1, 2}, 0}));
  EXPECT_FALSE(same_result(want, {XDP_TX, {1, 2, 3, 0}, 0}));
}

TEST(CheckFrames, SameSeedSameFramesOtherSeedOthers) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_note(seed));
  const auto a = make_check_frames(config(), kKeys, 300, seed);
  const auto b = make_check_frames(config(), kKeys, 300, seed);
  const auto c = make_check_frames(config(), kKeys, 300, seed + 1);
  ASSERT_EQ(a.size(), 300u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].kind, b[i].kind);
    EXPECT_EQ(a[i].frame, b[i].frame);
  }
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i].frame == c[i].frame;
  EXPECT_LT(same, 10u);
}

// Each kind is what its name says, judged by the model's reason: the
// generator is the code under test here, the model the independent judge.
TEST(CheckFrames, EachKindReachesItsReason) {
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_note(seed));
  const dc_config cfg = config();
  const std::map<std::string, std::set<dc_counter>> expected = {
      {"no_cookie", {DC_CNT_ANSWERED_NO_COOKIE}},
      {"valid_current", {DC_CNT_VALID_COOKIE_CURRENT}},
      {"valid_previous", {DC_CNT_VALID_COOKIE_PREVIOUS}},
      {"bad_cookie_tag", {DC_CNT_ANSWERED_BAD_COOKIE}},
      {"bad_cookie_generation", {DC_CNT_ANSWERED_BAD_COOKIE}},
      {"bad_cookie_length", {DC_CNT_ANSWERED_BAD_COOKIE}},
      {"dtls13", {DC_CNT_DTLS13}},
      {"established", {DC_CNT_ESTABLISHED}},
      {"fragmented", {DC_CNT_FRAGMENTED}},
      {"malformed_truncated", {DC_CNT_MALFORMED}},
      // Random bytes after a handshake content type: mostly malformed, a
      // plausible record header now and then is another epoch's record.
      {"malformed_garbage", {DC_CNT_MALFORMED, DC_CNT_ESTABLISHED}},
      {"ipv4_fragment", {DC_CNT_NOT_OURS}},
      {"other_port", {DC_CNT_NOT_OURS}},
      {"bad_source", {DC_CNT_BAD_SOURCE}},
      {"not_ip", {DC_CNT_NOT_OURS}},
  };
  std::map<std::string, size_t> seen;
  for (const auto& f : make_check_frames(cfg, kKeys, 3000, seed)) {
    ++seen[f.kind];
    const auto it = expected.find(f.kind);
    ASSERT_NE(it, expected.end()) << "unknown kind " << f.kind;
    const dc_counter reason = model::run(cfg, kKeys, f.frame).reason;
    EXPECT_TRUE(it->second.contains(reason))
        << f.kind << " ended as " << model::counter_name(reason) << ": "
        << hex(f.frame);
  }
  for (const auto& [kind, reasons] : expected)
    EXPECT_GT(seen[kind], 50u) << kind << " is too rare";
}

TEST(CheckFrames, SmallCountStillHasEveryKindOnce) {
  const auto frames = make_check_frames(config(), kKeys, 15, 1);
  std::set<std::string> kinds;
  for (const auto& f : frames) kinds.insert(f.kind);
  EXPECT_EQ(kinds.size(), 15u);
}

TEST(CheckFrames, NoCookieKindsWithoutTheirKey) {
  const key_set current_only(fixed_key(3));
  for (const auto& f : make_check_frames(config(), current_only, 500, 2))
    EXPECT_NE(f.kind, "valid_previous");
  for (const auto& f : make_check_frames(config(), key_set{}, 500, 2)) {
    EXPECT_NE(f.kind, "valid_current");
    EXPECT_NE(f.kind, "bad_cookie_tag");
  }
}

TEST(RunCheck, AgreeingKernelPasses) {
  const dc_config cfg = config();
  const auto frames = make_check_frames(cfg, kKeys, 400, test_seed());
  const check_report r = run_check(
      cfg, kKeys, frames,
      [&](std::span<const uint8_t> f) { return model_kernel(cfg, kKeys, f); });
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.frames, 400u);
  EXPECT_EQ(r.kernel_ns, 400u * 40u);
  size_t total = 0;
  for (const auto& [reason, n] : r.by_reason) total += n;
  EXPECT_EQ(total, 400u);
  EXPECT_GT(r.by_reason.at("answered_no_cookie"), 0u);
  std::ostringstream out;
  print_report(out, r);
  EXPECT_THAT(out.str(), HasSubstr("check passed: 400 frames, 0 mismatches"));
  EXPECT_THAT(out.str(), Not(HasSubstr("mismatch in")));
}

// A kernel that sends HelloVerifyRequests with one byte wrong: every
// answered frame, and only those, must be reported, with its bytes.
TEST(RunCheck, CorruptedByteIsReportedWithBothFrames) {
  const dc_config cfg = config();
  const auto frames = make_check_frames(cfg, kKeys, 300, test_seed());
  size_t answered = 0;
  const check_report r =
      run_check(cfg, kKeys, frames, [&](std::span<const uint8_t> f) {
        run_result out = model_kernel(cfg, kKeys, f);
        if (out.verdict == XDP_TX) {
          ++answered;
          out.frame.back() ^= 0x01;
        }
        return out;
      });
  ASSERT_GT(answered, 0u);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.mismatches.size(), answered);
  const check_mismatch& m = r.mismatches.front();
  EXPECT_EQ(m.expected.verdict, uint32_t(XDP_TX));
  EXPECT_EQ(m.input.frame, frames[m.index].frame);

  std::ostringstream out;
  print_report(out, r);
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("mismatch in frame " + std::to_string(m.index) +
                              " (" + m.input.kind + ")"));
  EXPECT_THAT(text, HasSubstr("expected XDP_TX"));
  EXPECT_THAT(text, HasSubstr("the kernel gave XDP_TX"));
  // Hex lines are 32 bytes long: the frames' first lines appear as such.
  const auto first_line = [](const std::vector<uint8_t>& b) {
    return hex(std::span(b).first(std::min<size_t>(32, b.size())));
  };
  EXPECT_THAT(text, HasSubstr(first_line(m.input.frame)));
  EXPECT_THAT(text, HasSubstr(first_line(m.expected.frame)));
  EXPECT_THAT(text, HasSubstr("frames differ from byte " +
                              std::to_string(m.expected.frame.size() - 1)));
  EXPECT_THAT(text, HasSubstr("check FAILED: 300 frames, " +
                              std::to_string(answered) + " mismatches"));
}

TEST(RunCheck, WrongVerdictIsReported) {
  const dc_config cfg = config();
  const auto frames = make_check_frames(cfg, kKeys, 200, test_seed());
  size_t not_dropped = 0;
  for (const auto& f : frames)
    not_dropped += model::run(cfg, kKeys, f.frame).verdict != XDP_DROP;
  // The frame comes back untouched, only the verdict is DROP.
  const check_report r =
      run_check(cfg, kKeys, frames, [](std::span<const uint8_t> f) {
        return run_result{XDP_DROP, {f.begin(), f.end()}, 0};
      });
  EXPECT_EQ(r.mismatches.size(), not_dropped);
  std::ostringstream out;
  print_report(out, r);
  EXPECT_THAT(out.str(), HasSubstr("the kernel gave XDP_DROP"));
}

}  // namespace
}  // namespace dtls_cookie::agent
