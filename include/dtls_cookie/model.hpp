// The responder's behaviour computed in userspace: for a frame, a
// configuration and a key set, the verdict, the counter and the bytes the
// XDP program must produce. The packet tests and the agent's self-check
// hold the kernel to it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/packet.hpp"

namespace dtls_cookie::model {

// The key of a reply rate limit bucket (struct dc_reply_key's bytes).
using reply_key = std::array<uint8_t, 16>;

struct outcome {
  uint32_t verdict = 0;  // XDP_PASS, XDP_DROP, XDP_TX
  dc_counter reason = DC_CNT_NOT_OURS;
  std::vector<uint8_t> frame;  // the frame after the program ran
};

// The bucket that replies to dst count against under cfg's prefix lengths.
reply_key reply_key_of(const dc_config& cfg, const packet::ip_addr& dst);

struct reply_decision {
  bool allowed = false;
  dc_reply_bucket bucket{};  // after the decision
};
// The reply clock (abi.h) now: what the program's bpf_ktime_get_coarse_ns()
// returns, read from userspace.
uint64_t reply_clock_ns();

// One reply asked of a bucket (nullopt: the destination has none yet) at
// now_ns on the reply clock. A refused reply leaves the bucket as it was.
reply_decision reply_take(const dc_config& cfg,
                          const std::optional<dc_reply_bucket>& bucket,
                          uint64_t now_ns);

// What the reply rate limit knows when a frame arrives: the clock and the
// bucket of the frame's destination prefix (nullopt: none yet). When run()
// asks the limit (the frame would be answered and the limit is on), it
// sets asked to the bucket's key and leaves bucket as the frame leaves it.
struct reply_limit_state {
  uint64_t now_ns = 0;
  std::optional<dc_reply_bucket> bucket;
  std::optional<reply_key> asked;
};

outcome run(const dc_config& cfg, const key_set& keys,
            std::span<const uint8_t> frame, reply_limit_state& limit);
// The same for a destination whose bucket holds a reply (or that has
// none yet): the limit lets every answer go.
outcome run(const dc_config& cfg, const key_set& keys,
            std::span<const uint8_t> frame);

// The verdict counter that goes with an XDP verdict.
dc_counter verdict_counter(uint32_t verdict);

// Printable names, for reports and test messages.
const char* counter_name(dc_counter c);
const char* verdict_name(uint32_t verdict);

}  // namespace dtls_cookie::model
