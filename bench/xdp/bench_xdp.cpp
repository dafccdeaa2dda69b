// In-kernel cost of the XDP responder per packet, through
// BPF_PROG_TEST_RUN, against baselines measured in the same run: a
// reflector for the answer path, a bare XDP_PASS for the pass paths.
//
// How each figure is measured, and why:
//
// - The kernel's own `duration` is used, never a wall clock around the
//   syscall. It is ktime over the whole repeat loop divided by the repeat
//   count, so it includes the loop's own per-repetition cost (bottom
//   halves off and on, the XDP dispatcher's call); every figure here
//   includes it alike, as test_run reports it for any program.
// - The pass paths do not touch the frame, so they run with repeat = N.
// - The answer path rewrites its frame, and with repeat > 1 the kernel
//   hands the next repetition that output. So the responder and the
//   reflector run behind bench_restore (bpf/bench/restore.bpf.c), which
//   restores the pristine request before each repetition and tail-calls
//   them; a third chain tail-calls bench_tx, which does nothing. Then
//     answer_ns = chain(responder) - chain(tx) + tx
//   where tx is bench_tx run directly: the restore and the tail call
//   cancel, and what is left is what test_run would report for the
//   responder if the frame came back for free. The same for the reflector.
//   The restore trims the frame to a fixed floor before growing it back,
//   so its cost does not depend on how long a frame the previous
//   repetition left. The reflector is the check on the method: it does the
//   same work on its own output (a swap swapped back), so it is also timed
//   directly with repeat = N, and the two figures must agree.
// - repeat = 1 in a loop, the simpler method, is also run as a cross-check
//   of the net costs (program minus bench_tx, both at repeat = 1). Each of
//   its samples carries a ktime read, a syscall's cold caches and, for
//   repeat = 1, no XDP dispatcher; a constant added to both sides of a
//   ratio pulls it towards 1, so its absolute figures are not reported as
//   the result.
// - The kernel divides in whole nanoseconds (floor), so a repeat-N figure
//   has a resolution of 1 ns; each is reported as the median over rounds
//   plus 0.5 ns, the middle of the interval the true value lies in.
// - Rounds interleave every measurement, the process is pinned to one CPU
//   and every figure is a median over rounds. The machine's speed drifts
//   by tens of percent within seconds when other work runs, so what is
//   compared is measured close together: a round runs groups (the answer
//   path with its baselines, the pass paths with XDP_PASS, ...) in a
//   shuffled order (seeded), each group's calls back to back in a shuffled
//   order, and each ratio is the median of the ratios of single rounds. A
//   call with repeat > 1 swaps the program into the kernel's XDP dispatcher
//   and back, which takes tens of milliseconds of wall time outside the
//   timed loop, so rounds are few and calls long.
// - The reply rate limit: the answer path runs with it on (the default
//   rate and prefixes) and, in a second program, off, side by side. With
//   repeat = N one source would spend any bucket, so before every call
//   the bucket is filled to a burst larger than the call's repetitions;
//   each repetition still reads the clock, refills and takes a token. A
//   third program, at one reply per second, times the refused path: its
//   bucket is emptied before each call, so every repetition refills a
//   fraction of a token and drops the ClientHello.
// - Where the answer path's time goes: bpf/bench/probes.bpf.c times its
//   costly operations alone (SipHash, the two bpf_csum_diff checksums and
//   the same sums inline, the counters, the resize), each net of XDP_PASS,
//   and a ClientHello to a port the responder is not configured for times
//   the header parse.
//
// Every path's verdict and output frame are checked before timing, and the
// responder's counters after it: each timed repetition must have counted
// the reason its path is meant to take.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_pass.skel.h"
#include "bench_probes.skel.h"
#include "bench_reflector.skel.h"
#include "bench_restore.skel.h"
#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/model.hpp"
#include "dtls_cookie/packet.hpp"
#include "dtls_cookie/responder.hpp"
#include "openssl_hello.hpp"

namespace {

namespace dc = dtls_cookie;
namespace pk = dtls_cookie::packet;
using bytes = pk::bytes;

// The product's bars.
constexpr double kAnswerBar = 2.0;       // responder / reflector
constexpr double kPassThroughBar = 1.2;  // non-DTLS / XDP_PASS

constexpr uint16_t kDtlsPort = 4433;
// The source of the ClientHellos the reply rate limit refuses.
constexpr const char* kSpentSource = "192.0.2.99";
// Each repeat-N call runs about this long, so the loop's entry and exit
// vanish in its average; the dispatcher swap around every such call costs
// more wall time than this anyway.
constexpr double kCallNs = 5e6;
constexpr double kQuickCallNs = 3e6;
constexpr int kRounds = 61;
constexpr int kQuickRounds = 21;
// repeat = 1 cross-check: calls per series and round.
constexpr int kSingleCalls = 200;
constexpr int kQuickSingleCalls = 100;

struct options {
  bool quick = false;
  bool probes = false;  // also in quick mode
  std::string json;
  std::string raw;  // every round's figure of every series, as CSV
  int rounds = 0;   // 0: the default for the mode
  int cpu = -1;     // -1: the CPU the process starts on
  uint32_t seed = 1;
};

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err < 0 ? -err : err));
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: bench_xdp [--quick] [--probes] [--json FILE] "
               "[--raw FILE]\n"
               "                 [--rounds N] [--cpu N] [--seed N]\n"
               "\n"
               "Times the XDP responder's answer path (reply rate limit on\n"
               "and off), a rate-limited ClientHello, the valid-cookie path\n"
               "and non-DTLS pass-through through BPF_PROG_TEST_RUN against\n"
               "a reflector and XDP_PASS measured in the same run. Needs "
               "root.\n"
               "\n"
               "options:\n"
               "  --quick      %d rounds of ~%.0f ms calls, no probes (under "
               "~10 s)\n"
               "  --probes     time the answer path's operations alone even "
               "with --quick\n"
               "  --json FILE  also write the figures to FILE\n"
               "  --raw FILE   write every round's figure of every "
               "measurement to FILE (CSV)\n"
               "  --rounds N   rounds of interleaved measurements "
               "(default %d)\n"
               "  --cpu N      pin to CPU N (default: the CPU it starts on)\n"
               "  --seed N     seed of the per-round order (default 1)\n"
               "\n"
               "example:\n"
               "  sudo bench_xdp --json xdp.json\n"
               "      full run, table on stdout, figures in xdp.json\n",
               kQuickRounds, kQuickCallNs / 1e6, kRounds);
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage(stderr);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--probes") {
      o.probes = true;
    } else if (a == "--json") {
      o.json = value();
    } else if (a == "--raw") {
      o.raw = value();
    } else if (a == "--rounds") {
      o.rounds = std::max(1, std::atoi(value()));
    } else if (a == "--cpu") {
      o.cpu = std::atoi(value());
    } else if (a == "--seed") {
      o.seed = uint32_t(std::strtoul(value(), nullptr, 0));
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else {
      usage(stderr);
      std::exit(2);
    }
  }
  return o;
}

// --- frames ----------------------------------------------------------------

using dtls_cookie::bench::openssl_like_client_hello;

pk::udp_frame request(bytes payload, uint16_t dst_port) {
  pk::udp_frame f;
  f.src_ip = pk::ip_addr::parse("192.0.2.10");
  f.dst_ip = pk::ip_addr::parse("198.51.100.1");
  f.src_port = 40000;
  f.dst_port = dst_port;
  f.payload = std::move(payload);
  return f;
}

// An IPv4 TCP segment (ACK with 64 bytes of data): the builder only
// speaks UDP, so the L4 header is written here.
bytes tcp_frame() {
  pk::udp_frame u = request(bytes(64 + 20 - 8, 0x61), 443);
  bytes f = pk::build(u);
  constexpr size_t l3 = 14, l4 = l3 + 20;
  f[l3 + 9] = IPPROTO_TCP;
  f[l3 + 10] = f[l3 + 11] = 0;
  const uint16_t ip_check =
      uint16_t(~pk::csum_fold(pk::csum_add(0, std::span(f).subspan(l3, 20))));
  f[l3 + 10] = uint8_t(ip_check >> 8);
  f[l3 + 11] = uint8_t(ip_check);
  const uint8_t tcp[20] = {0x9c, 0x40, 0x01, 0xbb,  // ports 40000 -> 443
                           0,    0,    0x10, 0,     // seq
                           0,    0,    0x20, 0,     // ack
                           0x50, 0x18, 0x01, 0xf6,  // doff 5, PSH|ACK, window
                           0,    0,    0,    0};    // checksum, urgent
  std::memcpy(&f[l4], tcp, sizeof tcp);
  // The checksum over pseudo-header and segment; the program never reads
  // it, but the frame should be one a stack would accept.
  const size_t seg_len = f.size() - l4;
  uint8_t pseudo[12] = {0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        IPPROTO_TCP,
                        uint8_t(seg_len >> 8),
                        uint8_t(seg_len)};
  std::memcpy(pseudo, &f[l3 + 12], 8);
  uint32_t sum = pk::csum_add(0, pseudo);
  sum = pk::csum_add(sum, std::span(f).subspan(l4));
  const uint16_t tcp_check = uint16_t(~pk::csum_fold(sum));
  f[l4 + 16] = uint8_t(tcp_check >> 8);
  f[l4 + 17] = uint8_t(tcp_check);
  return f;
}

// What the reflector must make of an IPv4 UDP frame, written here from
// the frame's layout, not from the program.
bytes reflected(bytes f) {
  constexpr size_t l3 = 14, l4 = l3 + 20;
  std::swap_ranges(f.begin(), f.begin() + 6, f.begin() + 6);
  std::swap_ranges(f.begin() + l3 + 12, f.begin() + l3 + 16,
                   f.begin() + l3 + 16);
  std::swap_ranges(f.begin() + l4, f.begin() + l4 + 2, f.begin() + l4 + 2);
  f[l3 + 10] = f[l3 + 11] = 0;
  const uint16_t c =
      uint16_t(~pk::csum_fold(pk::csum_add(0, std::span(f).subspan(l3, 20))));
  f[l3 + 10] = uint8_t(c >> 8);
  f[l3 + 11] = uint8_t(c);
  return f;
}

dc::key fixed_key(uint32_t generation) {
  dc::key k;
  k.generation = generation;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(generation * 41 + i * 13 + 3);
  return k;
}

// --- programs ----------------------------------------------------------------

template <typename T, void (*Destroy)(T*)>
struct skel_deleter {
  void operator()(T* s) const { Destroy(s); }
};
using reflector_skel =
    std::unique_ptr<bench_reflector,
                    skel_deleter<bench_reflector, bench_reflector__destroy>>;
using pass_skel =
    std::unique_ptr<bench_pass, skel_deleter<bench_pass, bench_pass__destroy>>;
using probes_skel =
    std::unique_ptr<bench_probes,
                    skel_deleter<bench_probes, bench_probes__destroy>>;
using restore_skel =
    std::unique_ptr<bench_restore,
                    skel_deleter<bench_restore, bench_restore__destroy>>;

reflector_skel load_reflector() {
  reflector_skel s(bench_reflector__open_and_load());
  if (!s) fail("loading bench_reflector", errno);
  return s;
}

pass_skel load_pass() {
  pass_skel s(bench_pass__open_and_load());
  if (!s) fail("loading bench_pass", errno);
  return s;
}

probes_skel load_probes() {
  probes_skel s(bench_probes__open_and_load());
  if (!s) fail("loading bench_probes", errno);
  for (size_t i = 0; i < sizeof s->bss->probe_key; ++i)
    s->bss->probe_key[i] = uint8_t(i * 13 + 3);
  for (size_t i = 0; i < sizeof s->bss->probe_msg; ++i)
    s->bss->probe_msg[i] = uint8_t(i * 7 + 1);
  // The bucket of ::ffff:192.0.2.10, for the lookup probe to find.
  uint8_t* k = s->bss->probe_reply_key;
  k[10] = k[11] = 0xff;
  k[12] = 192;
  k[14] = 2;
  k[15] = 10;
  const dc_reply_bucket b{DC_REPLY_TOKEN, 0};
  const int err = bpf_map_update_elem(bpf_map__fd(s->maps.probe_reply_limit), k,
                                      &b, BPF_ANY);
  if (err) fail("bpf_map_update_elem(probe_reply_limit)", err);
  return s;
}

// The three numbers of /proc/loadavg: how busy the machine was.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// A restore chain for frame that tail-calls target_fd, or its own bench_tx
// when target_fd is negative.
restore_skel load_restore(const bytes& frame, int target_fd) {
  restore_skel s(bench_restore__open());
  if (!s) fail("opening bench_restore", errno);
  if (frame.size() > sizeof s->bss->pristine)
    throw std::runtime_error("frame too long for bench_restore");
  s->rodata->frame_len = uint32_t(frame.size());
  int err = bench_restore__load(s.get());
  if (err) fail("loading bench_restore", err);
  std::memcpy(s->bss->pristine, frame.data(), frame.size());
  if (target_fd < 0) target_fd = bpf_program__fd(s->progs.bench_tx);
  const uint32_t slot = 0;
  err = bpf_map_update_elem(bpf_map__fd(s->maps.next_prog), &slot, &target_fd,
                            BPF_ANY);
  if (err) fail("bpf_map_update_elem(next_prog)", err);
  return s;
}

struct prog_size {
  uint32_t xlated_insns = 0;
  uint32_t jited_bytes = 0;
};

prog_size size_of(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  const int err = bpf_obj_get_info_by_fd(prog_fd, &info, &len);
  if (err) fail("bpf_obj_get_info_by_fd", err);
  return {info.xlated_prog_len / 8, info.jited_prog_len};
}

struct run_out {
  uint32_t retval = 0;
  uint32_t duration = 0;
  bytes frame;
};

run_out test_run(int prog_fd, const bytes& in, uint32_t repeat,
                 bool want_frame) {
  bytes out(want_frame ? in.size() + 256 : 0);
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.data(),
              .data_size_in = uint32_t(in.size()), .repeat = int(repeat));
  if (want_frame) {
    o.data_out = out.data();
    o.data_size_out = uint32_t(out.size());
  }
  const int err = bpf_prog_test_run_opts(prog_fd, &o);
  if (err) fail("bpf_prog_test_run_opts", err);
  if (want_frame) out.resize(o.data_size_out);
  return {o.retval, o.duration, std::move(out)};
}

// --- statistics --------------------------------------------------------------

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

double median(const std::vector<double>& v) { return quantile(v, 0.5); }

// The mean of the middle half: a per-round figure from many noisy
// repeat = 1 samples, finer than their whole-nanosecond median.
double middle_mean(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t lo = v.size() / 4, hi = v.size() - v.size() / 4;
  double s = 0;
  for (size_t i = lo; i < hi; ++i) s += v[i];
  return s / double(hi - lo);
}

// --- the measurements --------------------------------------------------------

// One timed measurement, repeated once per round.
struct series {
  std::string name;
  int prog_fd = -1;
  const bytes* frame = nullptr;
  uint32_t verdict = XDP_PASS;
  // Responder counters this series bumps per run (null: not a responder).
  dc::counters* expected = nullptr;
  dc_counter reason = DC_CNT_NOT_OURS;
  int group = 0;  // measured back to back with its group
  // Run before each call, outside the timed loop (a bucket's state).
  std::function<void()> before;
  bool single = false;  // repeat = 1, kSingleCalls calls per round
  uint32_t repeat = 1;  // for repeat-N series, set by calibrate()
  std::vector<double> rounds;
};

void check_verdict(const series& s, uint32_t retval) {
  if (retval != s.verdict)
    throw std::runtime_error(s.name + ": verdict " + std::to_string(retval) +
                             ", expected " + std::to_string(s.verdict));
}

void count(series& s, uint64_t runs) {
  if (s.expected == nullptr) return;
  (*s.expected)[s.reason] += runs;
  (*s.expected)[dc::model::verdict_counter(s.verdict)] += runs;
}

// A repeat count for which one call runs about call_ns.
void calibrate(series& s, double call_ns) {
  const uint32_t probe = 2000;
  if (s.before) s.before();
  run_out r = test_run(s.prog_fd, *s.frame, probe, false);
  check_verdict(s, r.retval);
  count(s, probe);
  const double per = std::max(1.0, double(r.duration));
  s.repeat = uint32_t(std::clamp(call_ns / per, 1000.0, 5e6));
}

void measure(series& s, int single_calls) {
  if (s.before) s.before();
  if (!s.single) {
    run_out r = test_run(s.prog_fd, *s.frame, s.repeat, false);
    check_verdict(s, r.retval);
    count(s, s.repeat);
    s.rounds.push_back(double(r.duration));
    return;
  }
  std::vector<double> samples;
  samples.reserve(size_t(single_calls));
  for (int i = 0; i < single_calls; ++i) {
    run_out r = test_run(s.prog_fd, *s.frame, 1, false);
    check_verdict(s, r.retval);
    samples.push_back(double(r.duration));
  }
  count(s, uint64_t(single_calls));
  s.rounds.push_back(middle_mean(std::move(samples)));
}

void expect_frame(const std::string& what, const bytes& got,
                  const bytes& want) {
  if (got != want)
    throw std::runtime_error(what + ": output frame differs from the " +
                             "expected one (" + std::to_string(got.size()) +
                             " vs " + std::to_string(want.size()) + " bytes)");
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set)) fail("sched_setaffinity", errno);
}

std::string kernel_release() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

// --- output ------------------------------------------------------------------

struct json_writer {
  std::string out = "{\n";
  bool first = true;
  void key(const std::string& k) {
    out += first ? "  \"" : ",\n  \"";
    first = false;
    out += k + "\": ";
  }
  void num(const std::string& k, double v) {
    key(k);
    char buf[32];
    if (std::isfinite(v))
      std::snprintf(buf, sizeof buf, "%.2f", v);
    else
      std::snprintf(buf, sizeof buf, "null");
    out += buf;
  }
  void integer(const std::string& k, long long v) {
    key(k);
    out += std::to_string(v);
  }
  void boolean(const std::string& k, bool v) {
    key(k);
    out += v ? "true" : "false";
  }
  void str(const std::string& k, const std::string& v) {
    key(k);
    out += "\"" + v + "\"";
  }
  std::string finish() { return out + "\n}\n"; }
};

const char* verdict_word(bool ok) { return ok ? "meets" : "MISSES"; }

// --- the run -----------------------------------------------------------------

struct frames {
  size_t client_hello_len = 0;
  bytes answer;   // ClientHello without a cookie to the DTLS port
  bytes valid;    // the same client's second ClientHello, valid cookie
  bytes limited;  // a ClientHello from a source whose bucket is empty
  bytes udp;      // a DNS-sized datagram to port 53
  bytes tcp;
};

frames make_frames(const dc::key& current) {
  frames f;
  const pk::client_hello hello = openssl_like_client_hello();
  const bytes payload = pk::build(hello);
  f.client_hello_len = payload.size();
  const pk::udp_frame req = request(payload, kDtlsPort);
  f.answer = pk::build(req);

  pk::client_hello second = hello;
  second.record_seq = 1;
  second.message_seq = 1;
  const dc_cookie cookie = dc::make_cookie(
      current,
      dc::client_identity_ipv6(req.src_ip.mapped.data(), htons(req.src_port)));
  const auto* cp = reinterpret_cast<const uint8_t*>(&cookie);
  second.cookie.assign(cp, cp + sizeof cookie);
  f.valid = pk::build(request(pk::build(second), kDtlsPort));
  pk::udp_frame spent = req;
  spent.src_ip = pk::ip_addr::parse(kSpentSource);
  f.limited = pk::build(spent);

  bytes dns(40);
  for (size_t i = 0; i < dns.size(); ++i) dns[i] = uint8_t(i * 7);
  f.udp = pk::build(request(dns, 53));
  f.tcp = tcp_frame();
  return f;
}

dc::responder_options responder_opts(uint16_t port) {
  dc::responder_options o;
  o.ports = {port};
  o.local_addrs = {pk::ip_addr::parse("203.0.113.7").mapped,
                   pk::ip_addr::parse("2001:db8::7").mapped};
  // The default rate and prefixes; a burst no call can spend once filled.
  o.reply_burst = DC_REPLY_BURST_MAX;
  return o;
}

dc::responder_options limit_off_opts() {
  dc::responder_options o = responder_opts(kDtlsPort);
  o.reply_rate = 0;
  return o;
}

// One reply per second: a call accrues a small fraction of a token.
dc::responder_options limit_slow_opts() {
  dc::responder_options o = responder_opts(kDtlsPort);
  o.reply_rate = 1;
  o.reply_burst = 1;
  return o;
}

// Sets the bucket of the source of frame (IPv4, no VLAN tags) to tokens,
// refilled last now.
void set_bucket(const dc::responder& r, const dc_config& cfg,
                const bytes& frame, uint64_t tokens) {
  uint8_t src[4];
  std::memcpy(src, &frame[14 + 12], 4);
  const dc::model::reply_key k =
      dc::model::reply_key_of(cfg, pk::ip_addr::v4(src));
  const dc_reply_bucket b{tokens, dc::model::reply_clock_ns()};
  const int err =
      bpf_map_update_elem(r.reply_limit_fd(), k.data(), &b, BPF_ANY);
  if (err) fail("bpf_map_update_elem(dc_reply_limit)", err);
}

void fill_bucket(const dc::responder& r, const dc_config& cfg,
                 const bytes& frame) {
  set_bucket(r, cfg, frame, uint64_t(cfg.reply_limit.burst) * DC_REPLY_TOKEN);
}

// Every program of the run, loaded once.
struct programs {
  programs(const frames& f, const dc::key_set& keys)
      : cfg(dc::to_config(responder_opts(kDtlsPort))),
        // The DTLS port elsewhere: a ClientHello then costs the headers up
        // to the UDP port check and the counters.
        cfg_other(dc::to_config(responder_opts(kDtlsPort + 1))),
        cfg_off(dc::to_config(limit_off_opts())),
        cfg_slow(dc::to_config(limit_slow_opts())),
        resp(dc::responder::load(cfg)),
        resp_other(dc::responder::load(cfg_other)),
        resp_off(dc::responder::load(cfg_off)),
        resp_slow(dc::responder::load(cfg_slow)),
        reflector(load_reflector()),
        pass(load_pass()),
        probes(load_probes()),
        chain_answer(load_restore(f.answer, resp.prog_fd())),
        chain_answer_off(load_restore(f.answer, resp_off.prog_fd())),
        chain_reflector(load_restore(
            f.answer, bpf_program__fd(reflector->progs.bench_reflector))),
        chain_tx(load_restore(f.answer, -1)) {
    for (const dc::responder* r : {&resp, &resp_other, &resp_off, &resp_slow})
      r->publish_keys(keys);
  }

  int reflector_fd() const {
    return bpf_program__fd(reflector->progs.bench_reflector);
  }
  int pass_fd() const { return bpf_program__fd(pass->progs.bench_pass); }
  int tx_fd() const { return bpf_program__fd(chain_tx->progs.bench_tx); }
  static int restore_fd(const restore_skel& s) {
    return bpf_program__fd(s->progs.bench_restore);
  }

  dc_config cfg, cfg_other, cfg_off, cfg_slow;
  dc::responder resp, resp_other, resp_off, resp_slow;
  reflector_skel reflector;
  pass_skel pass;
  probes_skel probes;
  restore_skel chain_answer, chain_answer_off, chain_reflector, chain_tx;
};

// Every path is what it claims to be, against the userspace model, and
// every chain restores its frame: after 1000 repetitions the output is
// still the answer to the pristine request.
void check_paths(const programs& p, const frames& f, const dc::key_set& keys) {
  const dc::model::outcome want = dc::model::run(p.cfg, keys, f.answer);
  if (want.verdict != XDP_TX || want.reason != DC_CNT_ANSWERED_NO_COOKIE)
    throw std::runtime_error("the model does not answer the ClientHello");
  fill_bucket(p.resp, p.cfg, f.answer);
  auto expect = [](const std::string& what, const run_out& r, uint32_t verdict,
                   const bytes& frame) {
    if (r.retval != verdict)
      throw std::runtime_error(what + ": verdict " + std::to_string(r.retval) +
                               ", expected " + std::to_string(verdict));
    expect_frame(what, r.frame, frame);
  };
  expect("responder", test_run(p.resp.prog_fd(), f.answer, 1, true), XDP_TX,
         want.frame);
  expect("reflector", test_run(p.reflector_fd(), f.answer, 1, true), XDP_TX,
         reflected(f.answer));
  for (uint32_t rep : {1u, 1000u}) {
    const std::string n = " (repeat " + std::to_string(rep) + ")";
    expect("restore+responder" + n,
           test_run(programs::restore_fd(p.chain_answer), f.answer, rep, true),
           XDP_TX, want.frame);
    expect(
        "restore+reflector" + n,
        test_run(programs::restore_fd(p.chain_reflector), f.answer, rep, true),
        XDP_TX, reflected(f.answer));
    expect("restore+tx" + n,
           test_run(programs::restore_fd(p.chain_tx), f.answer, rep, true),
           XDP_TX, f.answer);
    expect(
        "restore+responder, limit off" + n,
        test_run(programs::restore_fd(p.chain_answer_off), f.answer, rep, true),
        XDP_TX, dc::model::run(p.cfg_off, keys, f.answer).frame);
  }

  // The refused path: an empty bucket at one reply per second.
  dc::model::reply_limit_state empty;
  empty.now_ns = dc::model::reply_clock_ns();
  empty.bucket = dc_reply_bucket{0, empty.now_ns};
  const dc::model::outcome refused =
      dc::model::run(p.cfg_slow, keys, f.limited, empty);
  if (refused.verdict != XDP_DROP || refused.reason != DC_CNT_RATE_LIMITED)
    throw std::runtime_error("the model does not limit the spent source");
  set_bucket(p.resp_slow, p.cfg_slow, f.limited, 0);
  for (uint32_t rep : {1u, 1000u})
    expect("responder, bucket empty (repeat " + std::to_string(rep) + ")",
           test_run(p.resp_slow.prog_fd(), f.limited, rep, true), XDP_DROP,
           f.limited);

  struct pass_case {
    const char* name;
    const dc::responder& prog;
    const dc_config& cfg;
    const bytes& frame;
    dc_counter reason;
  };
  for (const pass_case& c : {
           pass_case{"valid cookie", p.resp, p.cfg, f.valid,
                     DC_CNT_VALID_COOKIE_CURRENT},
           pass_case{"UDP to port 53", p.resp, p.cfg, f.udp, DC_CNT_NOT_OURS},
           pass_case{"TCP", p.resp, p.cfg, f.tcp, DC_CNT_NOT_OURS},
           pass_case{"port not configured", p.resp_other, p.cfg_other, f.answer,
                     DC_CNT_NOT_OURS},
       }) {
    const dc::model::outcome m = dc::model::run(c.cfg, keys, c.frame);
    if (m.verdict != XDP_PASS || m.reason != c.reason)
      throw std::runtime_error(std::string(c.name) +
                               ": the model does not pass it for the "
                               "intended reason");
    expect(c.name, test_run(c.prog.prog_fd(), c.frame, 1, true), XDP_PASS,
           c.frame);
  }
}

series timed(std::string name, int fd, const bytes& frame, uint32_t verdict,
             dc::counters* expected = nullptr,
             dc_counter reason = DC_CNT_NOT_OURS) {
  series s;
  s.name = std::move(name);
  s.prog_fd = fd;
  s.frame = &frame;
  s.verdict = verdict;
  s.expected = expected;
  s.reason = reason;
  return s;
}

series single(std::string name, int fd, const bytes& frame, uint32_t verdict,
              dc::counters* expected = nullptr,
              dc_counter reason = DC_CNT_NOT_OURS) {
  series s = timed(std::move(name), fd, frame, verdict, expected, reason);
  s.single = true;
  return s;
}

// What the counters of each responder must move by.
struct expected_counters {
  dc::counters main{}, other{}, off{}, slow{};
};

// Groups of series measured back to back.
enum series_group { kAnswerGroup, kPassGroup, kSingleGroup, kProbeGroup };

std::vector<series> make_series(const programs& p, const frames& f,
                                expected_counters& ex, bool with_probes) {
  const int resp = p.resp.prog_fd();
  const auto fill = [&p, &f] { fill_bucket(p.resp, p.cfg, f.answer); };
  std::vector<series> v = {
      timed("chain_answer", programs::restore_fd(p.chain_answer), f.answer,
            XDP_TX, &ex.main, DC_CNT_ANSWERED_NO_COOKIE),
      timed("chain_answer_limit_off", programs::restore_fd(p.chain_answer_off),
            f.answer, XDP_TX, &ex.off, DC_CNT_ANSWERED_NO_COOKIE),
      timed("chain_reflector", programs::restore_fd(p.chain_reflector),
            f.answer, XDP_TX),
      timed("chain_tx", programs::restore_fd(p.chain_tx), f.answer, XDP_TX),
      timed("tx", p.tx_fd(), f.answer, XDP_TX),
      timed("reflector_direct", p.reflector_fd(), f.answer, XDP_TX),
  };
  v[0].before = fill;
  for (series& s : v) s.group = kAnswerGroup;
  const size_t answer_end = v.size();
  v.insert(v.end(),
           {
               timed("valid_cookie", resp, f.valid, XDP_PASS, &ex.main,
                     DC_CNT_VALID_COOKIE_CURRENT),
               timed("udp_other_port", resp, f.udp, XDP_PASS, &ex.main),
               timed("tcp", resp, f.tcp, XDP_PASS, &ex.main),
               timed("pass", p.pass_fd(), f.answer, XDP_PASS),
               timed("rate_limited", p.resp_slow.prog_fd(), f.limited, XDP_DROP,
                     &ex.slow, DC_CNT_RATE_LIMITED),
           });
  v.back().before = [&p, &f] {
    set_bucket(p.resp_slow, p.cfg_slow, f.limited, 0);
  };
  for (size_t i = answer_end; i < v.size(); ++i) v[i].group = kPassGroup;
  const size_t pass_end = v.size();
  v.insert(v.end(),
           {
               single("r1_answer", resp, f.answer, XDP_TX, &ex.main,
                      DC_CNT_ANSWERED_NO_COOKIE),
               single("r1_answer_limit_off", p.resp_off.prog_fd(), f.answer,
                      XDP_TX, &ex.off, DC_CNT_ANSWERED_NO_COOKIE),
               single("r1_reflector", p.reflector_fd(), f.answer, XDP_TX),
               single("r1_tx", p.tx_fd(), f.answer, XDP_TX),
               single("r1_pass", p.pass_fd(), f.answer, XDP_PASS),
               single("r1_tcp", resp, f.tcp, XDP_PASS, &ex.main),
           });
  for (size_t i = pass_end; i < v.size(); ++i) {
    v[i].group = kSingleGroup;
    if (v[i].name == "r1_answer") v[i].before = fill;
  }
  if (with_probes) {
    const size_t probes_begin = v.size();
    const auto& pr = p.probes->progs;
    // Their own XDP_PASS, so each probe has its baseline close by.
    v.push_back(timed("probe_pass", p.pass_fd(), f.answer, XDP_PASS));
    v.push_back(timed("port_not_configured", p.resp_other.prog_fd(), f.answer,
                      XDP_PASS, &ex.other));
    v.push_back(timed("probe_siphash", bpf_program__fd(pr.probe_siphash),
                      f.answer, XDP_PASS));
    v.push_back(timed("probe_csum_diff", bpf_program__fd(pr.probe_csum_diff),
                      f.answer, XDP_PASS));
    v.push_back(timed("probe_csum_inline",
                      bpf_program__fd(pr.probe_csum_inline), f.answer,
                      XDP_PASS));
    v.push_back(timed("probe_counters", bpf_program__fd(pr.probe_counters_2),
                      f.answer, XDP_PASS));
    v.push_back(timed("probe_adjust_tail",
                      bpf_program__fd(pr.probe_adjust_tail), f.answer,
                      XDP_PASS));
    v.push_back(timed("probe_ktime", bpf_program__fd(pr.probe_ktime), f.answer,
                      XDP_PASS));
    v.push_back(timed("probe_reply_lookup",
                      bpf_program__fd(pr.probe_reply_lookup), f.answer,
                      XDP_PASS));
    for (size_t i = probes_begin; i < v.size(); ++i) v[i].group = kProbeGroup;
  }
  return v;
}

// Every timed run took its path: the counters moved by exactly what the
// series ran.
void check_counters(const char* what, const dc::counters& before,
                    const dc::counters& after, const dc::counters& expected) {
  for (size_t i = 0; i < DC_CNT_MAX; ++i)
    if (after[i] - before[i] != expected[i])
      throw std::runtime_error(std::string(what) + ": counter " +
                               dc::model::counter_name(dc_counter(i)) +
                               " moved by " +
                               std::to_string(after[i] - before[i]) +
                               ", expected " + std::to_string(expected[i]));
}

struct figures {
  double answer, reflector, answer_iqr, reflector_iqr;
  double valid, pass, udp, tcp, tx, reflector_direct;
  double chain_answer, chain_reflector, chain_tx;
  double answer_ratio, valid_ratio, udp_ratio, tcp_ratio;
  bool answer_ok, udp_ok, tcp_ok;
  double r1_answer_net, r1_reflector_net, r1_tcp_net;
  // The reply rate limit: the answer path with it off, the ratio and the
  // difference on / off (repeat = N, and repeat = 1 as a cross-check), and
  // a refused ClientHello against XDP_PASS and against the answer.
  double answer_off, limit_ratio, limit_cost, r1_limit_cost;
  double limited, limited_ratio, limited_vs_answer;
  // Net of XDP_PASS; NaN when the probes did not run.
  double port_not_configured_net;
  double siphash, csum_diff, csum_inline, counters, adjust_tail;
  double ktime, reply_lookup;
};

figures compute(const std::vector<series>& all) {
  auto find = [&](std::string_view name) -> const series* {
    for (const series& s : all)
      if (s.name == name) return &s;
    return nullptr;
  };
  auto get = [&](std::string_view name) -> const std::vector<double>& {
    if (const series* s = find(name)) return s->rounds;
    throw std::logic_error("no series " + std::string(name));
  };
  // Repeat-N values are whole nanoseconds rounded down; +0.5 is the middle
  // of the interval the true value lies in.
  constexpr double kHalf = 0.5;
  auto med = [&](std::string_view name) { return median(get(name)) + kHalf; };
  // Round by round: a op b.
  auto per_round = [](const std::vector<double>& a,
                      const std::vector<double>& b, auto op) {
    std::vector<double> v;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
      v.push_back(op(a[i] + kHalf, b[i] + kHalf));
    return v;
  };
  auto ratio = [&](const std::vector<double>& a, const std::vector<double>& b) {
    return median(per_round(a, b, std::divides<double>()));
  };
  auto net = [&](std::string_view a, std::string_view base) {
    if (!find(a) || !find(base)) return double(NAN);
    return median(per_round(get(a), get(base), std::minus<double>()));
  };
  // chain - chain_tx + tx, per round: the restore and the tail call cancel.
  auto unchained = [&](std::string_view chain) {
    std::vector<double> v;
    const auto &c = get(chain), &ct = get("chain_tx"), &t = get("tx");
    for (size_t i = 0; i < c.size(); ++i) v.push_back(c[i] - ct[i] + t[i]);
    return v;
  };
  auto iqr = [](const std::vector<double>& v) {
    return quantile(v, 0.75) - quantile(v, 0.25);
  };

  figures g{};
  const std::vector<double> answer_v = unchained("chain_answer");
  const std::vector<double> reflector_v = unchained("chain_reflector");
  g.answer = median(answer_v) + kHalf;
  g.reflector = median(reflector_v) + kHalf;
  g.answer_iqr = iqr(answer_v);
  g.reflector_iqr = iqr(reflector_v);
  g.valid = med("valid_cookie");
  g.pass = med("pass");
  g.udp = med("udp_other_port");
  g.tcp = med("tcp");
  g.tx = med("tx");
  g.reflector_direct = med("reflector_direct");
  g.chain_answer = med("chain_answer");
  g.chain_reflector = med("chain_reflector");
  g.chain_tx = med("chain_tx");
  g.answer_ratio = ratio(answer_v, reflector_v);
  g.valid_ratio = ratio(get("valid_cookie"), get("pass"));
  g.udp_ratio = ratio(get("udp_other_port"), get("pass"));
  g.tcp_ratio = ratio(get("tcp"), get("pass"));
  g.answer_ok = g.answer_ratio <= kAnswerBar;
  g.udp_ok = g.udp_ratio <= kPassThroughBar;
  g.tcp_ok = g.tcp_ratio <= kPassThroughBar;
  // repeat = 1 figures are means of many calls, not rounded down.
  auto r1 = [&](std::string_view name) { return median(get(name)); };
  g.r1_answer_net = r1("r1_answer") - r1("r1_tx");
  g.r1_reflector_net = r1("r1_reflector") - r1("r1_tx");
  g.r1_tcp_net = r1("r1_tcp") - r1("r1_pass");
  const std::vector<double> answer_off_v = unchained("chain_answer_limit_off");
  g.answer_off = median(answer_off_v) + kHalf;
  g.limit_ratio = ratio(answer_v, answer_off_v);
  g.limit_cost =
      median(per_round(answer_v, answer_off_v, std::minus<double>()));
  g.r1_limit_cost = r1("r1_answer") - r1("r1_answer_limit_off");
  g.limited = med("rate_limited");
  g.limited_ratio = ratio(get("rate_limited"), get("pass"));
  g.limited_vs_answer = ratio(get("rate_limited"), answer_v);
  g.port_not_configured_net = net("port_not_configured", "probe_pass");
  g.siphash = net("probe_siphash", "probe_pass");
  g.csum_diff = net("probe_csum_diff", "probe_pass");
  g.csum_inline = net("probe_csum_inline", "probe_pass");
  g.counters = net("probe_counters", "probe_pass");
  g.adjust_tail = net("probe_adjust_tail", "probe_pass");
  g.ktime = net("probe_ktime", "probe_pass");
  g.reply_lookup = net("probe_reply_lookup", "probe_pass");
  return g;
}

void print_report(const figures& g, int rounds, double secs) {
  std::printf("\n%-34s %9s %9s %-10s %6s  %s\n", "path (ns per packet)",
              "responder", "baseline", "", "ratio", "bar");
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  <= %.1f: %s\n",
              "answer: ClientHello -> XDP_TX HVR", g.answer, g.reflector,
              "reflector", g.answer_ratio, kAnswerBar,
              verdict_word(g.answer_ok));
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  (reported)\n",
              "answer, reply limit on / off", g.answer, g.answer_off,
              "limit off", g.limit_ratio);
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  (reported)\n",
              "rate limited ClientHello -> DROP", g.limited, g.pass, "XDP_PASS",
              g.limited_ratio);
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  (reported)\n",
              "valid cookie -> XDP_PASS", g.valid, g.pass, "XDP_PASS",
              g.valid_ratio);
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  <= %.1f: %s\n",
              "non-DTLS UDP to port 53 -> PASS", g.udp, g.pass, "XDP_PASS",
              g.udp_ratio, kPassThroughBar, verdict_word(g.udp_ok));
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  <= %.1f: %s\n",
              "non-DTLS TCP -> PASS", g.tcp, g.pass, "XDP_PASS", g.tcp_ratio,
              kPassThroughBar, verdict_word(g.tcp_ok));
  std::printf(
      "\nmedians of %d rounds in %.1f s, +0.5 ns each (the kernel rounds "
      "down); ratio: median of the rounds' ratios; answer and reflector: "
      "restore chain - restore chain to bench_tx + bench_tx\n",
      rounds, secs);
  std::printf("  spread p75-p25: answer %.1f, reflector %.1f\n", g.answer_iqr,
              g.reflector_iqr);
  std::printf(
      "  chains (restore, tail call, program): responder %.1f, reflector "
      "%.1f, bench_tx %.1f; bench_tx alone %.1f\n",
      g.chain_answer, g.chain_reflector, g.chain_tx, g.tx);
  std::printf(
      "  method check, reflector: through the restore chain %.1f, "
      "directly with repeat = N %.1f\n",
      g.reflector, g.reflector_direct);
  std::printf(
      "  reply limit: %.1f ns on the answer path (repeat = 1: %.1f); a "
      "refused ClientHello costs %.2f of an answer\n",
      g.limit_cost, g.r1_limit_cost, g.limited_vs_answer);
  std::printf(
      "  net of bench_tx / XDP_PASS: answer %.1f, reflector %.1f, TCP "
      "%.1f; the same from repeat = 1 calls: %.1f, %.1f, %.1f\n",
      g.answer - g.tx, g.reflector - g.tx, g.tcp - g.pass, g.r1_answer_net,
      g.r1_reflector_net, g.r1_tcp_net);
  if (std::isnan(g.siphash)) return;
  std::printf(
      "  ClientHello to a port the responder is not configured for, net "
      "of XDP_PASS: %.1f (headers to the UDP port, counters)\n",
      g.port_not_configured_net);
  std::printf(
      "  answer path net %.1f; alone, net of XDP_PASS: SipHash-2-4 %.1f, "
      "two bpf_csum_diff %.1f (summed inline instead: %.1f), two counters "
      "%.1f, resize %.1f; rest (parse, ClientHello walk, keys, rewrite) "
      "%.1f\n",
      g.answer - g.tx, g.siphash, g.csum_diff, g.csum_inline, g.counters,
      g.adjust_tail,
      g.answer - g.tx - g.siphash - g.csum_diff - g.counters - g.adjust_tail);
  std::printf(
      "  reply limit net %.1f; alone, net of XDP_PASS: clock read %.1f, "
      "bucket lookup %.1f; rest (key, refill, store) %.1f\n",
      g.limit_cost, g.ktime, g.reply_lookup,
      g.limit_cost - g.ktime - g.reply_lookup);
}

void write_json(const std::string& path, const figures& g,
                const json_writer& head) {
  json_writer j = head;
  j.num("answer_ns", g.answer);
  j.num("reflector_ns", g.reflector);
  j.num("answer_ratio", g.answer_ratio);
  j.num("answer_bar", kAnswerBar);
  j.boolean("answer_meets_bar", g.answer_ok);
  j.num("answer_limit_off_ns", g.answer_off);
  j.num("answer_limit_on_off_ratio", g.limit_ratio);
  j.num("reply_limit_cost_ns", g.limit_cost);
  j.num("repeat1_reply_limit_cost_ns", g.r1_limit_cost);
  j.num("rate_limited_ns", g.limited);
  j.num("rate_limited_ratio", g.limited_ratio);
  j.num("rate_limited_vs_answer_ratio", g.limited_vs_answer);
  j.num("valid_cookie_ns", g.valid);
  j.num("pass_ns", g.pass);
  j.num("valid_cookie_ratio", g.valid_ratio);
  j.num("udp_other_port_ns", g.udp);
  j.num("udp_other_port_ratio", g.udp_ratio);
  j.boolean("udp_other_port_meets_bar", g.udp_ok);
  j.num("tcp_ns", g.tcp);
  j.num("tcp_ratio", g.tcp_ratio);
  j.boolean("tcp_meets_bar", g.tcp_ok);
  j.num("pass_through_bar", kPassThroughBar);
  j.num("answer_iqr_ns", g.answer_iqr);
  j.num("reflector_iqr_ns", g.reflector_iqr);
  j.num("tx_ns", g.tx);
  j.num("reflector_direct_ns", g.reflector_direct);
  j.num("chain_answer_ns", g.chain_answer);
  j.num("chain_reflector_ns", g.chain_reflector);
  j.num("chain_tx_ns", g.chain_tx);
  j.num("repeat1_answer_net_ns", g.r1_answer_net);
  j.num("repeat1_reflector_net_ns", g.r1_reflector_net);
  j.num("repeat1_tcp_net_ns", g.r1_tcp_net);
  j.num("port_not_configured_net_ns", g.port_not_configured_net);
  j.num("probe_siphash_net_ns", g.siphash);
  j.num("probe_csum_diff_net_ns", g.csum_diff);
  j.num("probe_csum_inline_net_ns", g.csum_inline);
  j.num("probe_counters_net_ns", g.counters);
  j.num("probe_adjust_tail_net_ns", g.adjust_tail);
  j.num("probe_ktime_net_ns", g.ktime);
  j.num("probe_reply_lookup_net_ns", g.reply_lookup);
  std::ofstream f(path);
  f << j.finish();
  if (!f) throw std::runtime_error("cannot write " + path);
}

// One line per series: its name, repeat count (1: the figure is the mean
// of the middle half of that round's calls) and its figure per round.
void write_raw(const std::string& path, const std::vector<series>& all) {
  std::ofstream f(path);
  for (const series& s : all) {
    f << s.name << ',' << (s.single ? 1 : s.repeat);
    for (double v : s.rounds) f << ',' << v;
    f << '\n';
  }
  if (!f) throw std::runtime_error("cannot write " + path);
}

int run(const options& opt) {
  const int rounds = opt.rounds  ? opt.rounds
                     : opt.quick ? kQuickRounds
                                 : kRounds;
  const double call_ns = opt.quick ? kQuickCallNs : kCallNs;
  const int single_calls = opt.quick ? kQuickSingleCalls : kSingleCalls;
  const bool with_probes = !opt.quick || opt.probes;
  const int cpu = opt.cpu >= 0 ? opt.cpu : sched_getcpu();
  pin(cpu);
  libbpf_set_print(nullptr);  // errors come back as exceptions

  const dc::key current = fixed_key(2), previous = fixed_key(1);
  const dc::key_set keys(current, previous);
  const frames f = make_frames(current);
  const programs p(f, keys);
  check_paths(p, f, keys);

  expected_counters ex;
  const dc::counters before_main = p.resp.read_counters();
  const dc::counters before_other = p.resp_other.read_counters();
  const dc::counters before_off = p.resp_off.read_counters();
  const dc::counters before_slow = p.resp_slow.read_counters();
  std::vector<series> all = make_series(p, f, ex, with_probes);

  const std::string load_before = load_average();
  std::printf(
      "bench_xdp: kernel %s, CPU %d, %d rounds%s, seed %u, load average "
      "%s\n",
      kernel_release().c_str(), cpu, rounds, opt.quick ? " (quick)" : "",
      opt.seed, load_before.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  for (series& s : all)
    if (!s.single) calibrate(s, call_ns);
  std::mt19937 rng(opt.seed);
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < all.size(); ++i) {
    if (size_t(all[i].group) >= groups.size()) groups.resize(all[i].group + 1);
    groups[all[i].group].push_back(i);
  }
  for (int r = 0; r < rounds; ++r) {
    std::shuffle(groups.begin(), groups.end(), rng);
    for (std::vector<size_t>& members : groups) {
      std::shuffle(members.begin(), members.end(), rng);
      for (size_t i : members) measure(all[i], single_calls);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const std::string load_after = load_average();
  check_counters("responder", before_main, p.resp.read_counters(), ex.main);
  check_counters("responder (port not configured)", before_other,
                 p.resp_other.read_counters(), ex.other);
  check_counters("responder (reply limit off)", before_off,
                 p.resp_off.read_counters(), ex.off);
  check_counters("responder (reply limit spent)", before_slow,
                 p.resp_slow.read_counters(), ex.slow);

  if (!opt.raw.empty()) write_raw(opt.raw, all);
  const figures g = compute(all);
  print_report(g, rounds, secs);
  const prog_size sz_resp = size_of(p.resp.prog_fd());
  const prog_size sz_refl = size_of(p.reflector_fd());
  std::printf(
      "  programs: responder %u insns / %u B jited, reflector %u / %u; "
      "frames: answer %zu B (DTLS %zu B), valid cookie %zu B, UDP %zu B, "
      "TCP %zu B\n",
      sz_resp.xlated_insns, sz_resp.jited_bytes, sz_refl.xlated_insns,
      sz_refl.jited_bytes, f.answer.size(), f.client_hello_len, f.valid.size(),
      f.udp.size(), f.tcp.size());
  std::printf("  load average before %s, after %s\n", load_before.c_str(),
              load_after.c_str());

  if (!opt.json.empty()) {
    json_writer head;
    head.str("kernel", kernel_release());
    head.integer("cpu", cpu);
    head.integer("rounds", rounds);
    head.integer("seed", opt.seed);
    head.boolean("quick", opt.quick);
    head.num("seconds", secs);
    head.str("load_average_before", load_before);
    head.str("load_average_after", load_after);
    head.integer("responder_xlated_insns", sz_resp.xlated_insns);
    head.integer("responder_jited_bytes", sz_resp.jited_bytes);
    head.integer("reflector_xlated_insns", sz_refl.xlated_insns);
    head.integer("reflector_jited_bytes", sz_refl.jited_bytes);
    head.integer("answer_frame_bytes", static_cast<long long>(f.answer.size()));
    head.integer("client_hello_bytes",
                 static_cast<long long>(f.client_hello_len));
    write_json(opt.json, g, head);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_args(argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_xdp: needs root (BPF_PROG_TEST_RUN)\n");
    return 77;
  }
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_xdp: %s\n", e.what());
    return 1;
  }
}
