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
//   repetition left.
// - repeat = 1 in a loop, the simpler method, is also run as a cross-check
//   of the net costs (program minus bench_tx, both at repeat = 1). Each of
//   its samples carries a ktime read, a syscall's cold caches and, for
//   repeat = 1, no XDP dispatcher; a constant added to both sides of a
//   ratio pulls it towards 1, so its absolute figures are not reported as
//   the result.
// - The kernel divides in whole nanoseconds (floor), so a repeat-N figure
//   has a resolution of 1 ns; each is reported as the median over rounds
//   plus 0.5 ns, the middle of the interval the true value lies in.
// - Rounds interleave every measurement in a shuffled order (seeded), the
//   process is pinned to one CPU, and every figure is a median over
//   rounds; the answer and reflector figures are paired per round. A call
//   with repeat > 1 swaps the program into the kernel's XDP dispatcher and
//   back, which takes tens of milliseconds of wall time outside the timed
//   loop, so rounds are few and calls long.
// - Where the answer path's time goes: bpf/bench/probes.bpf.c times its
//   costly operations alone (SipHash, the two bpf_csum_diff checksums, the
//   counters, the resize), each net of XDP_PASS, and a ClientHello to a
//   port the responder is not configured for times the header parse.
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

namespace {

namespace dc = dtls_cookie;
namespace pk = dtls_cookie::packet;
using bytes = pk::bytes;

// The product's bars.
constexpr double kAnswerBar = 2.0;       // responder / reflector
constexpr double kPassThroughBar = 1.2;  // non-DTLS / XDP_PASS

constexpr uint16_t kDtlsPort = 4433;
// Each repeat-N call runs about this long: long enough that the call's
// fixed cost vanishes, short enough that rounds interleave finely.
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
  int rounds = 0;  // 0: the default for the mode
  int cpu = -1;    // -1: the CPU the process starts on
  uint32_t seed = 1;
};

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err < 0 ? -err : err));
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: bench_xdp [--quick] [--probes] [--json FILE] "
               "[--rounds N] [--cpu N] [--seed N]\n"
               "\n"
               "Times the XDP responder's answer path, valid-cookie path and\n"
               "non-DTLS pass-through through BPF_PROG_TEST_RUN against a\n"
               "reflector and XDP_PASS measured in the same run. Needs "
               "root.\n"
               "\n"
               "options:\n"
               "  --quick      %d rounds of ~%.0f ms calls, no probes (under "
               "~10 s)\n"
               "  --probes     time the answer path's operations alone even "
               "with --quick\n"
               "  --json FILE  also write the figures to FILE\n"
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

// A DTLS 1.2 ClientHello shaped like OpenSSL 3's first one (the
// openssl-dtls1_2 capture under tests/data): 28 suites, six extensions,
// 205 bytes without a cookie.
pk::client_hello openssl_like_client_hello() {
  pk::client_hello ch;
  ch.record_version = DC_VERSION_DTLS10;
  ch.client_version = DC_VERSION_DTLS12;
  for (size_t i = 0; i < ch.random.size(); ++i)
    ch.random[i] = uint8_t(0x8d ^ (i * 29));
  ch.cipher_suites = {0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b,
                      0xc02f, 0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027,
                      0x0067, 0xc00a, 0xc014, 0x0039, 0xc009, 0xc013, 0x0033,
                      0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff};
  ch.compression = {0};
  std::vector<pk::extension> ext;
  ext.push_back({0x000b, {3, 0, 1, 2}});  // ec_point_formats
  ext.push_back({0x000a,                  // supported_groups
                 {0, 10, 0, 0x1d, 0, 0x17, 0, 0x1e, 0, 0x19, 0, 0x18}});
  ext.push_back({0x0023, {}});  // session_ticket
  ext.push_back({0x0016, {}});  // encrypt_then_mac
  ext.push_back({0x0017, {}});  // extended_master_secret
  bytes sig{0, 40};             // signature_algorithms: 20 schemes
  for (uint16_t s : {0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a,
                     0x080b, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                     0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602}) {
    sig.push_back(uint8_t(s >> 8));
    sig.push_back(uint8_t(s));
  }
  ext.push_back({0x000d, sig});
  ch.extensions = ext;
  return ch;
}

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
  run_out r = test_run(s.prog_fd, *s.frame, probe, false);
  check_verdict(s, r.retval);
  count(s, probe);
  const double per = std::max(1.0, double(r.duration));
  s.repeat = uint32_t(std::clamp(call_ns / per, 1000.0, 5e6));
}

void measure(series& s, int single_calls) {
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

  // Frames.
  const pk::client_hello hello = openssl_like_client_hello();
  const bytes hello_payload = pk::build(hello);
  const pk::udp_frame hello_req = request(hello_payload, kDtlsPort);
  const bytes answer_frame = pk::build(hello_req);

  const dc::key current = fixed_key(2), previous = fixed_key(1);
  const dc::key_set keys(current, previous);
  pk::client_hello second = hello;
  second.record_seq = 1;
  second.message_seq = 1;
  const dc_cookie cookie = dc::make_cookie(
      current, dc::client_identity_ipv6(hello_req.src_ip.mapped.data(),
                                        htons(hello_req.src_port)));
  const auto* cp = reinterpret_cast<const uint8_t*>(&cookie);
  second.cookie.assign(cp, cp + sizeof cookie);
  const bytes valid_frame = pk::build(request(pk::build(second), kDtlsPort));
  bytes dns(40);
  for (size_t i = 0; i < dns.size(); ++i) dns[i] = uint8_t(i * 7);
  const bytes udp_frame = pk::build(request(dns, 53));
  const bytes tcp = tcp_frame();

  // Programs.
  dc::responder_options ro;
  ro.ports = {kDtlsPort};
  ro.local_addrs = {pk::ip_addr::parse("203.0.113.7").mapped,
                    pk::ip_addr::parse("2001:db8::7").mapped};
  const dc_config cfg = dc::to_config(ro);
  const dc::responder resp = dc::responder::load(cfg);
  resp.publish_keys(keys);
  // The same program with the DTLS port elsewhere: a ClientHello then
  // costs the headers up to the UDP port check and the counters.
  dc::responder_options ro_other = ro;
  ro_other.ports = {kDtlsPort + 1};
  const dc::responder resp_other = dc::responder::load(dc::to_config(ro_other));
  resp_other.publish_keys(keys);

  const reflector_skel reflector = load_reflector();
  const probes_skel probes = load_probes();
  const pass_skel pass = load_pass();
  const int reflector_fd = bpf_program__fd(reflector->progs.bench_reflector);
  const int pass_fd = bpf_program__fd(pass->progs.bench_pass);
  const restore_skel chain_answer = load_restore(answer_frame, resp.prog_fd());
  const restore_skel chain_reflector = load_restore(answer_frame, reflector_fd);
  const restore_skel chain_tx = load_restore(answer_frame, -1);
  const int tx_fd = bpf_program__fd(chain_tx->progs.bench_tx);
  const int chain_answer_fd =
      bpf_program__fd(chain_answer->progs.bench_restore);
  const int chain_reflector_fd =
      bpf_program__fd(chain_reflector->progs.bench_restore);
  const int chain_tx_fd = bpf_program__fd(chain_tx->progs.bench_restore);

  // Every path is what it claims to be, and the chains restore.
  const dc::model::outcome want_answer =
      dc::model::run(cfg, keys, answer_frame);
  if (want_answer.verdict != XDP_TX ||
      want_answer.reason != DC_CNT_ANSWERED_NO_COOKIE)
    throw std::runtime_error("the model does not answer the ClientHello");
  const run_out direct = test_run(resp.prog_fd(), answer_frame, 1, true);
  if (direct.retval != XDP_TX)
    throw std::runtime_error("responder: the ClientHello is not answered");
  expect_frame("responder", direct.frame, want_answer.frame);
  for (uint32_t rep : {1u, 1000u}) {
    const run_out c = test_run(chain_answer_fd, answer_frame, rep, true);
    if (c.retval != XDP_TX)
      throw std::runtime_error("restore+responder: not XDP_TX");
    expect_frame("restore+responder", c.frame, want_answer.frame);
    const run_out r = test_run(chain_reflector_fd, answer_frame, rep, true);
    if (r.retval != XDP_TX)
      throw std::runtime_error("restore+reflector: not XDP_TX");
    expect_frame("restore+reflector", r.frame, reflected(answer_frame));
    const run_out t = test_run(chain_tx_fd, answer_frame, rep, true);
    if (t.retval != XDP_TX) throw std::runtime_error("restore+tx: not XDP_TX");
    expect_frame("restore+tx", t.frame, answer_frame);
  }
  expect_frame("reflector", test_run(reflector_fd, answer_frame, 1, true).frame,
               reflected(answer_frame));
  struct pass_case {
    const char* name;
    const dc::responder* prog;
    const dc_config* cfg;
    const bytes* frame;
    dc_counter reason;
  };
  const dc_config cfg_other = dc::to_config(ro_other);
  for (const pass_case& pc :
       {pass_case{"valid cookie", &resp, &cfg, &valid_frame,
                  DC_CNT_VALID_COOKIE_CURRENT},
        pass_case{"UDP to port 53", &resp, &cfg, &udp_frame, DC_CNT_NOT_OURS},
        pass_case{"TCP", &resp, &cfg, &tcp, DC_CNT_NOT_OURS},
        pass_case{"port not configured", &resp_other, &cfg_other, &answer_frame,
                  DC_CNT_NOT_OURS}}) {
    const dc::model::outcome m = dc::model::run(*pc.cfg, keys, *pc.frame);
    if (m.verdict != XDP_PASS || m.reason != pc.reason)
      throw std::runtime_error(std::string(pc.name) +
                               ": the model does not pass it for the "
                               "intended reason");
    const run_out r = test_run(pc.prog->prog_fd(), *pc.frame, 1, true);
    if (r.retval != XDP_PASS)
      throw std::runtime_error(std::string(pc.name) + ": not XDP_PASS");
    expect_frame(pc.name, r.frame, *pc.frame);
  }

  // The measurements.
  dc::counters expect_main{}, expect_other{};
  const dc::counters before_main = resp.read_counters();
  const dc::counters before_other = resp_other.read_counters();
  // Repeat-N series, then the repeat = 1 cross-check series.
  auto timed = [](std::string name, int fd, const bytes& frame,
                  uint32_t verdict, dc::counters* expected = nullptr,
                  dc_counter reason = DC_CNT_NOT_OURS) {
    series s;
    s.name = std::move(name);
    s.prog_fd = fd;
    s.frame = &frame;
    s.verdict = verdict;
    s.expected = expected;
    s.reason = reason;
    return s;
  };
  auto single = [&](std::string name, int fd, const bytes& frame,
                    uint32_t verdict, dc::counters* expected = nullptr,
                    dc_counter reason = DC_CNT_NOT_OURS) {
    series s = timed(std::move(name), fd, frame, verdict, expected, reason);
    s.single = true;
    return s;
  };
  std::vector<series> all = {
      timed("chain_answer", chain_answer_fd, answer_frame, XDP_TX, &expect_main,
            DC_CNT_ANSWERED_NO_COOKIE),
      timed("chain_reflector", chain_reflector_fd, answer_frame, XDP_TX),
      timed("chain_tx", chain_tx_fd, answer_frame, XDP_TX),
      timed("tx", tx_fd, answer_frame, XDP_TX),
      timed("valid_cookie", resp.prog_fd(), valid_frame, XDP_PASS, &expect_main,
            DC_CNT_VALID_COOKIE_CURRENT),
      timed("udp_other_port", resp.prog_fd(), udp_frame, XDP_PASS,
            &expect_main),
      timed("tcp", resp.prog_fd(), tcp, XDP_PASS, &expect_main),
      timed("pass", pass_fd, answer_frame, XDP_PASS),
      timed("port_not_configured", resp_other.prog_fd(), answer_frame, XDP_PASS,
            &expect_other),
      single("r1_answer", resp.prog_fd(), answer_frame, XDP_TX, &expect_main,
             DC_CNT_ANSWERED_NO_COOKIE),
      single("r1_reflector", reflector_fd, answer_frame, XDP_TX),
      single("r1_tx", tx_fd, answer_frame, XDP_TX),
      single("r1_pass", pass_fd, answer_frame, XDP_PASS),
      single("r1_tcp", resp.prog_fd(), tcp, XDP_PASS, &expect_main),
  };
  if (with_probes) {
    all.push_back(timed("probe_siphash",
                        bpf_program__fd(probes->progs.probe_siphash),
                        answer_frame, XDP_PASS));
    all.push_back(timed("probe_csum_diff",
                        bpf_program__fd(probes->progs.probe_csum_diff),
                        answer_frame, XDP_PASS));
    all.push_back(timed("probe_counters",
                        bpf_program__fd(probes->progs.probe_counters_2),
                        answer_frame, XDP_PASS));
    all.push_back(timed("probe_adjust_tail",
                        bpf_program__fd(probes->progs.probe_adjust_tail),
                        answer_frame, XDP_PASS));
  }
  auto get = [&](std::string_view name) -> series& {
    for (series& s : all)
      if (s.name == name) return s;
    throw std::logic_error("no series " + std::string(name));
  };

  const std::string load_before = load_average();
  std::printf(
      "bench_xdp: kernel %s, CPU %d, %d rounds, seed %u%s, load "
      "average %s\n",
      kernel_release().c_str(), cpu, rounds, opt.seed,
      opt.quick ? " (quick)" : "", load_before.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  for (series& s : all)
    if (!s.single) calibrate(s, call_ns);
  std::mt19937 rng(opt.seed);
  std::vector<size_t> order(all.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (int r = 0; r < rounds; ++r) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) measure(all[i], single_calls);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const std::string load_after = load_average();

  // Every timed run took its path: the counters moved by exactly what the
  // series ran.
  auto check_counters = [](const char* what, const dc::counters& before,
                           const dc::counters& after,
                           const dc::counters& expected) {
    for (size_t i = 0; i < DC_CNT_MAX; ++i)
      if (after[i] - before[i] != expected[i])
        throw std::runtime_error(std::string(what) + ": counter " +
                                 dc::model::counter_name(dc_counter(i)) +
                                 " moved by " +
                                 std::to_string(after[i] - before[i]) +
                                 ", expected " + std::to_string(expected[i]));
  };
  check_counters("responder", before_main, resp.read_counters(), expect_main);
  check_counters("responder (port not configured)", before_other,
                 resp_other.read_counters(), expect_other);

  // Figures. Repeat-N values are whole nanoseconds rounded down; +0.5 is
  // the middle of the interval.
  constexpr double kHalf = 0.5;
  auto med = [&](std::string_view name) {
    return median(get(name).rounds) + kHalf;
  };
  auto paired = [&](std::string_view chain) {
    std::vector<double> v;
    const series &c = get(chain), &ct = get("chain_tx"), &t = get("tx");
    for (size_t i = 0; i < c.rounds.size(); ++i)
      v.push_back(c.rounds[i] - ct.rounds[i] + t.rounds[i]);
    return v;
  };
  const std::vector<double> answer_v = paired("chain_answer");
  const std::vector<double> reflector_v = paired("chain_reflector");
  const double answer_ns = median(answer_v) + kHalf;
  const double reflector_ns = median(reflector_v) + kHalf;
  const double tx_ns = med("tx");
  const double pass_ns = med("pass");
  const double valid_ns = med("valid_cookie");
  const double udp_ns = med("udp_other_port");
  const double tcp_ns = med("tcp");
  const double other_port_ns = med("port_not_configured");
  const double answer_ratio = answer_ns / reflector_ns;
  const double valid_ratio = valid_ns / pass_ns;
  const double udp_ratio = udp_ns / pass_ns;
  const double tcp_ratio = tcp_ns / pass_ns;
  const bool answer_ok = answer_ratio <= kAnswerBar;
  const bool udp_ok = udp_ratio <= kPassThroughBar;
  const bool tcp_ok = tcp_ratio <= kPassThroughBar;
  // repeat = 1: net cost above bench_tx / bench_pass at repeat = 1.
  const double r1_answer_net =
      median(get("r1_answer").rounds) - median(get("r1_tx").rounds);
  const double r1_reflector_net =
      median(get("r1_reflector").rounds) - median(get("r1_tx").rounds);
  const double r1_tcp_net =
      median(get("r1_tcp").rounds) - median(get("r1_pass").rounds);

  auto iqr = [](const std::vector<double>& v) {
    return quantile(v, 0.75) - quantile(v, 0.25);
  };
  std::printf("\n%-34s %9s %9s %-10s %6s  %s\n", "path", "responder",
              "baseline", "", "ratio", "bar");
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  <= %.1f: %s\n",
              "answer: ClientHello -> XDP_TX HVR", answer_ns, reflector_ns,
              "reflector", answer_ratio, kAnswerBar, verdict_word(answer_ok));
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  (reported)\n",
              "valid cookie -> XDP_PASS", valid_ns, pass_ns, "XDP_PASS",
              valid_ratio);
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  <= %.1f: %s\n",
              "non-DTLS UDP to port 53 -> PASS", udp_ns, pass_ns, "XDP_PASS",
              udp_ratio, kPassThroughBar, verdict_word(udp_ok));
  std::printf("%-34s %9.1f %9.1f %-10s %6.2f  <= %.1f: %s\n",
              "non-DTLS TCP -> PASS", tcp_ns, pass_ns, "XDP_PASS", tcp_ratio,
              kPassThroughBar, verdict_word(tcp_ok));
  std::printf(
      "\nns per packet, median of %d rounds (+0.5 ns: the kernel "
      "rounds down); %.1f s\n",
      rounds, secs);
  std::printf(
      "  spread (p75-p25): answer %.1f, reflector %.1f, pass %.1f, "
      "tcp %.1f, udp %.1f, valid cookie %.1f\n",
      iqr(answer_v), iqr(reflector_v), iqr(get("pass").rounds),
      iqr(get("tcp").rounds), iqr(get("udp_other_port").rounds),
      iqr(get("valid_cookie").rounds));
  std::printf(
      "  chains (restore + tail call + program): responder %.1f, "
      "reflector %.1f, bench_tx %.1f; bench_tx alone %.1f\n",
      med("chain_answer"), med("chain_reflector"), med("chain_tx"), tx_ns);
  std::printf(
      "  cross-check, repeat = 1 (net of bench_tx/XDP_PASS at repeat "
      "= 1): answer %.1f, reflector %.1f, tcp %.1f\n",
      r1_answer_net, r1_reflector_net, r1_tcp_net);
  std::printf(
      "    same nets from repeat = N: answer %.1f, reflector %.1f, "
      "tcp %.1f\n",
      answer_ns - tx_ns, reflector_ns - tx_ns, tcp_ns - pass_ns);
  std::printf(
      "  diagnostic: ClientHello to an unconfigured port (headers "
      "to the UDP port, counters) %.1f, net %.1f\n",
      other_port_ns, other_port_ns - pass_ns);
  // Each probe net of XDP_PASS: what the operation adds to a packet.
  auto probe_net = [&](std::string_view name) {
    return with_probes ? med(name) - pass_ns : NAN;
  };
  const double siphash_net = probe_net("probe_siphash");
  const double csum_net = probe_net("probe_csum_diff");
  const double counters_net = probe_net("probe_counters");
  const double adjust_net = probe_net("probe_adjust_tail");
  if (with_probes)
    std::printf(
        "  answer path, net of bench_tx: %.1f, of which alone: "
        "SipHash-2-4 %.1f, two bpf_csum_diff %.1f, two counters "
        "%.1f, bpf_xdp_adjust_tail %.1f; the rest (parse, "
        "ClientHello walk, key lookup, rewrite) %.1f\n",
        answer_ns - tx_ns, siphash_net, csum_net, counters_net, adjust_net,
        answer_ns - tx_ns - siphash_net - csum_net - counters_net - adjust_net);
  std::printf("  load average before %s, after %s\n", load_before.c_str(),
              load_after.c_str());
  const prog_size sz_resp = size_of(resp.prog_fd());
  const prog_size sz_refl = size_of(reflector_fd);
  std::printf(
      "  program sizes: responder %u insns / %u B jited, reflector "
      "%u / %u\n",
      sz_resp.xlated_insns, sz_resp.jited_bytes, sz_refl.xlated_insns,
      sz_refl.jited_bytes);
  std::printf(
      "  frames: answer %zu B (DTLS %zu B), valid cookie %zu B, "
      "UDP %zu B, TCP %zu B\n",
      answer_frame.size(), hello_payload.size(), valid_frame.size(),
      udp_frame.size(), tcp.size());

  if (!opt.json.empty()) {
    json_writer j;
    j.str("kernel", kernel_release());
    j.integer("cpu", cpu);
    j.integer("rounds", rounds);
    j.integer("seed", opt.seed);
    j.boolean("quick", opt.quick);
    j.num("answer_ns", answer_ns);
    j.num("reflector_ns", reflector_ns);
    j.num("answer_ratio", answer_ratio);
    j.num("answer_bar", kAnswerBar);
    j.boolean("answer_meets_bar", answer_ok);
    j.num("valid_cookie_ns", valid_ns);
    j.num("pass_ns", pass_ns);
    j.num("valid_cookie_ratio", valid_ratio);
    j.num("udp_other_port_ns", udp_ns);
    j.num("udp_other_port_ratio", udp_ratio);
    j.boolean("udp_other_port_meets_bar", udp_ok);
    j.num("tcp_ns", tcp_ns);
    j.num("tcp_ratio", tcp_ratio);
    j.boolean("tcp_meets_bar", tcp_ok);
    j.num("pass_through_bar", kPassThroughBar);
    j.num("tx_ns", tx_ns);
    j.num("chain_answer_ns", med("chain_answer"));
    j.num("chain_reflector_ns", med("chain_reflector"));
    j.num("chain_tx_ns", med("chain_tx"));
    j.num("answer_iqr_ns", iqr(answer_v));
    j.num("reflector_iqr_ns", iqr(reflector_v));
    j.num("repeat1_answer_net_ns", r1_answer_net);
    j.num("repeat1_reflector_net_ns", r1_reflector_net);
    j.num("repeat1_tcp_net_ns", r1_tcp_net);
    j.num("port_not_configured_ns", other_port_ns);
    j.num("probe_siphash_net_ns", siphash_net);
    j.num("probe_csum_diff_net_ns", csum_net);
    j.num("probe_counters_net_ns", counters_net);
    j.num("probe_adjust_tail_net_ns", adjust_net);
    j.str("load_average_before", load_before);
    j.str("load_average_after", load_after);
    j.integer("responder_xlated_insns", sz_resp.xlated_insns);
    j.integer("responder_jited_bytes", sz_resp.jited_bytes);
    j.integer("reflector_xlated_insns", sz_refl.xlated_insns);
    j.integer("reflector_jited_bytes", sz_refl.jited_bytes);
    j.integer("answer_frame_bytes",
              static_cast<long long>(answer_frame.size()));
    j.integer("client_hello_bytes",
              static_cast<long long>(hello_payload.size()));
    j.num("seconds", secs);
    std::ofstream f(opt.json);
    f << j.finish();
    if (!f) throw std::runtime_error("cannot write " + opt.json);
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
