// The self-check: generated frames run through the pinned program with
// BPF_PROG_TEST_RUN and held, verdict and every byte, against the
// userspace model under the live configuration and keys. Used by the
// check subcommand and by run before it reports ready.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/model.hpp"
#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/responder.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {

struct check_frame {
  std::string kind;  // what the frame was made to be, e.g. "valid_current"
  packet::bytes frame;
};

// count frames for cfg and keys, the same ones for the same seed: valid
// cookies under the current and the previous key, no cookie, bad cookies,
// DTLS 1.3, established, fragmented, malformed, IPv4 fragments, other
// ports, bad sources and non-UDP frames, over IPv4 and IPv6 with up to two
// VLAN tags. The first frames take each kind once, so a small count still
// covers them all.
std::vector<check_frame> make_check_frames(const dc_config& cfg,
                                           const key_set& keys, unsigned count,
                                           uint32_t seed);

// True when the kernel's run is what the model says: the same verdict and
// the same frame, byte for byte.
bool same_result(const model::outcome& expected, const run_result& actual);

struct check_mismatch {
  size_t index = 0;
  check_frame input;
  model::outcome expected;
  run_result actual;
};

struct check_report {
  size_t frames = 0;
  // How many frames ended in each of the model's reasons.
  std::map<std::string, size_t> by_reason;
  std::vector<check_mismatch> mismatches;
  uint64_t kernel_ns = 0;  // the kernel's own run time, summed
  bool ok() const { return frames > 0 && mismatches.empty(); }
};

// The live bucket of a reply rate limit prefix (nullopt: none), read
// after a frame ran, with the reply clock (abi.h) read after that.
struct bucket_reading {
  std::optional<dc_reply_bucket> bucket;
  uint64_t now_ns = 0;
};
using bucket_reader = std::function<bucket_reading(const model::reply_key&)>;

// Runs each frame through run_frame and compares it with the model. The
// agent passes the pinned program's test_run; tests pass a fake kernel.
// The model takes every destination to have a reply left; with
// read_bucket, a frame the kernel dropped as rate limited instead is
// right when its live bucket is still spent after the run (traffic, or an
// earlier check with the same seed, used it up).
using frame_runner = std::function<run_result(std::span<const uint8_t>)>;
check_report run_check(const dc_config& cfg, const key_set& keys,
                       const std::vector<check_frame>& frames,
                       const frame_runner& run_frame,
                       const bucket_reader& read_bucket = {});

// The check of a pinned instance with its own config and keys. A key
// rotation by another process during the check would make correct
// answers look wrong, so the keys are read before and after and the check
// is repeated when they changed.
check_report check_instance(const instance& inst, unsigned count,
                            uint32_t seed);

// Each mismatch with the hex of the input, the expected and the kernel's
// frame, then a summary line.
void print_report(std::ostream& out, const check_report& report);
// The summary line alone, e.g. for the daemon's log.
std::string summary(const check_report& report);

}  // namespace dtls_cookie::agent
