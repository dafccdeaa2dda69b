// The self-check against the real program through BPF_PROG_TEST_RUN: its
// generated frames agree with the kernel under several configurations,
// and a kernel that holds other keys than the model is caught. Needs root.
#include <gmock/gmock.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <set>

#include "check.hpp"
#include "dtls_cookie/packet.hpp"
#include "test_seed.hpp"

namespace dtls_cookie::agent {
namespace {

using dtls_cookie::testing::seed_note;
using dtls_cookie::testing::test_seed;

#define DC_REQUIRE_ROOT()                               \
  do {                                                  \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root"; \
  } while (0)

key fixed_key(uint32_t generation) {
  key k;
  k.generation = generation;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(generation * 29 + i * 5 + 1);
  return k;
}

responder_options options() {
  responder_options o;
  o.ports = {4433, 5684};
  o.local_addrs = {packet::ip_addr::parse("203.0.113.7").mapped,
                   packet::ip_addr::parse("2001:db8::7").mapped};
  return o;
}

check_report check_kernel(const responder& r, const dc_config& cfg,
                          const key_set& model_keys, unsigned count,
                          uint32_t seed) {
  return run_check(cfg, model_keys,
                   make_check_frames(cfg, model_keys, count, seed),
                   [&](std::span<const uint8_t> f) { return r.test_run(f); });
}

size_t count_of(const check_report& r, const std::string& reason) {
  const auto it = r.by_reason.find(reason);
  return it == r.by_reason.end() ? 0 : it->second;
}

std::string first_mismatch(const check_report& r) {
  std::ostringstream out;
  if (!r.mismatches.empty()) {
    check_report one = r;
    one.mismatches.resize(1);
    print_report(out, one);
  }
  return out.str();
}

struct variant {
  const char* name;
  void (*edit)(responder_options&);
  bool previous_key;
};

TEST(CheckKernel, GeneratedFramesAgreeUnderEveryPolicy) {
  DC_REQUIRE_ROOT();
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_note(seed));
  const variant variants[] = {
      {"defaults", [](responder_options&) {}, true},
      {"current key only", [](responder_options&) {}, false},
      {"all drop, DTLS 1.2 answers",
       [](responder_options& o) {
         o.established = o.fragmented = o.malformed = DC_POLICY_DROP;
         o.dtls13 = DC_POLICY_DROP;
         o.server_version = DC_VERSION_DTLS12;
       },
       true},
      {"dtls13 answered, malformed passed",
       [](responder_options& o) {
         o.dtls13 = DC_POLICY_ANSWER;
         o.malformed = DC_POLICY_PASS;
       },
       true},
  };
  for (const variant& v : variants) {
    SCOPED_TRACE(v.name);
    responder_options o = options();
    v.edit(o);
    const dc_config cfg = to_config(o);
    const responder r = responder::load(cfg);
    const key_set keys = v.previous_key ? key_set(fixed_key(12), fixed_key(11))
                                        : key_set(fixed_key(12));
    r.publish_keys(keys);
    const check_report report = check_kernel(r, cfg, keys, 2000, seed);
    EXPECT_TRUE(report.ok()) << first_mismatch(report);
    EXPECT_EQ(report.frames, 2000u);
    for (const char* reason :
         {"answered_no_cookie", "answered_bad_cookie", "valid_cookie_current",
          "dtls13", "established", "fragmented", "malformed", "not_ours",
          "bad_source"})
      EXPECT_GT(count_of(report, reason), 0u) << reason;
    if (v.previous_key) {
      EXPECT_GT(count_of(report, "valid_cookie_previous"), 0u);
    }
  }
}

TEST(CheckKernel, EmptyKeySlotAgrees) {
  DC_REQUIRE_ROOT();
  const dc_config cfg = to_config(options());
  const responder r = responder::load(cfg);
  const check_report report = check_kernel(r, cfg, {}, 500, test_seed());
  EXPECT_TRUE(report.ok()) << first_mismatch(report);
  EXPECT_GT(count_of(report, "no_keys"), 0u);
}

// The kernel holds one key set and the check is told another: exactly
// the frames whose outcome depends on the key may disagree, and those
// with a valid cookie or an answer must.
TEST(CheckKernel, OtherKeysInTheKernelAreCaught) {
  DC_REQUIRE_ROOT();
  const uint32_t seed = test_seed();
  SCOPED_TRACE(seed_note(seed));
  const dc_config cfg = to_config(options());
  const responder r = responder::load(cfg);
  r.publish_keys(key_set(fixed_key(12), fixed_key(11)));
  const key_set told(fixed_key(22), fixed_key(21));
  const check_report report = check_kernel(r, cfg, told, 1000, seed);
  ASSERT_FALSE(report.ok());

  const std::set<std::string> key_dependent = {
      "no_cookie",      "valid_current",      "valid_previous",
      "bad_cookie_tag", "bad_cookie_length",  "bad_cookie_generation",
      "dtls13",         "malformed_truncated"};
  std::set<std::string> caught;
  for (const auto& m : report.mismatches) {
    EXPECT_TRUE(key_dependent.contains(m.input.kind))
        << m.input.kind << " frame " << m.index;
    caught.insert(m.input.kind);
  }
  for (const char* kind : {"no_cookie", "valid_current", "valid_previous"})
    EXPECT_TRUE(caught.contains(kind)) << kind << " frames were not caught";
}

}  // namespace
}  // namespace dtls_cookie::agent
