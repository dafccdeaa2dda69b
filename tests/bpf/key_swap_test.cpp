// Key publication under load: one thread swaps key sets into the program
// as fast as the kernel allows while another runs ClientHellos with a
// cookie both sets accept. A packet that saw a half-published set, or an
// empty slot in between, would be answered or dropped instead of passed.
#include <linux/bpf.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include "bpf_test_util.hpp"

namespace dtls_cookie::testing {
namespace {

constexpr uint64_t kMaxRuns = 2000000;
constexpr auto kMaxTime = std::chrono::seconds(3);
// Each swap waits for an RCU grace period in the kernel (milliseconds);
// a few dozen within the time bound show the runs overlapped the swaps.
constexpr uint64_t kMinPublications = 20;

TEST(KeySwap, ValidCookieSurvivesConcurrentPublication) {
  DC_REQUIRE_ROOT();
  responder_options o = base_options();
  // Any other outcome than a pass must be visible in the verdict: no keys
  // drops, a cookie that did not verify gets an answer.
  o.no_keys = DC_POLICY_DROP;
  const responder& prog = program(to_config(o));

  const key g0 = test_key(100), g1 = test_key(101), g2 = test_key(102);
  const key_set newer(g2, g1);  // the cookie's key is the previous one
  const key_set older(g1, g0);  // the cookie's key is the current one

  pk::udp_frame req = v4_request({});
  pk::client_hello hello;
  hello.cookie = cookie_for(g1, req);
  req.payload = pk::build(hello);
  const pk::bytes frame = pk::build(req);

  prog.publish_keys(older);
  const counters before = prog.read_counters();

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> publications{0};
  std::exception_ptr publisher_error;
  std::thread publisher([&] {
    try {
      for (bool flip = false; !stop.load(); flip = !flip) {
        prog.publish_keys(flip ? older : newer);
        publications.fetch_add(1);
      }
    } catch (...) {
      publisher_error = std::current_exception();
    }
  });

  uint64_t runs = 0, wrong = 0;
  const auto deadline = std::chrono::steady_clock::now() + kMaxTime;
  while (runs < kMaxRuns && std::chrono::steady_clock::now() < deadline) {
    const run_result r = prog.test_run(frame);
    ++runs;
    if (r.verdict != XDP_PASS || r.frame != frame) ++wrong;
  }
  stop = true;
  publisher.join();
  if (publisher_error) std::rethrow_exception(publisher_error);

  const counters d = counter_delta(before, prog.read_counters());
  EXPECT_EQ(wrong, 0u) << "of " << runs << " runs";
  EXPECT_EQ(d[DC_CNT_VALID_COOKIE_CURRENT] + d[DC_CNT_VALID_COOKIE_PREVIOUS],
            runs);
  EXPECT_EQ(d[DC_CNT_NO_KEYS], 0u);
  EXPECT_EQ(d[DC_CNT_ANSWERED_BAD_COOKIE], 0u);
  EXPECT_GE(publications.load(), kMinPublications);
  // Both sets were seen by packets, so the runs did overlap the swaps.
  EXPECT_GT(d[DC_CNT_VALID_COOKIE_CURRENT], 0u);
  EXPECT_GT(d[DC_CNT_VALID_COOKIE_PREVIOUS], 0u);
  std::printf("%llu runs, %llu publications\n",
              static_cast<unsigned long long>(runs),
              static_cast<unsigned long long>(publications.load()));
}

}  // namespace
}  // namespace dtls_cookie::testing
