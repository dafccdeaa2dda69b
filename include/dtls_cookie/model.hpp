// The responder's behaviour computed in userspace: for a frame, a
// configuration and a key set, the verdict, the counter and the bytes the
// XDP program must produce. The packet tests and the agent's self-check
// hold the kernel to it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/keys.hpp"

namespace dtls_cookie::model {

struct outcome {
  uint32_t verdict = 0;  // XDP_PASS, XDP_DROP, XDP_TX
  dc_counter reason = DC_CNT_NOT_OURS;
  std::vector<uint8_t> frame;  // the frame after the program ran
};

outcome run(const dc_config& cfg, const key_set& keys,
            std::span<const uint8_t> frame);

// The verdict counter that goes with an XDP verdict.
dc_counter verdict_counter(uint32_t verdict);

// Printable names, for reports and test messages.
const char* counter_name(dc_counter c);
const char* verdict_name(uint32_t verdict);

}  // namespace dtls_cookie::model
