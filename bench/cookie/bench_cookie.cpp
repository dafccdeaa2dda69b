// Cookie send/verify cost of the library's SipHash mode and its
// GnuTLS-compatible mode against libgnutls, measured in one run, then the
// ratios libgnutls / ours computed from that same run's medians.
#include <benchmark/benchmark.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/wire.hpp"

namespace {

namespace dc = dtls_cookie;

// The product's promise: SipHash mode at least this many times faster than
// libgnutls, for send and for verify.
constexpr double kBar = 10.0;

// Every verify benchmark reads a ClientHello of this size, padded so that
// the 12-byte and the 16-byte cookies give datagrams of the same length.
constexpr size_t kClientHelloLen = 200;

// Where the cookie sits in a HelloVerifyRequest record.
constexpr size_t kHvrCookieLenOffset =
    DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN + 2;

// Defaults that keep a run under about 20 s on two vCPUs; any of them
// given on the command line wins.
constexpr std::string_view kDefaultFlags[] = {
    "--benchmark_min_time=0.05",
    "--benchmark_repetitions=15",
    "--benchmark_enable_random_interleaving=true",
};

struct push_buffer {
  uint8_t bytes[64] = {};
  size_t size = 0;
};

// Stands in for sendto() so only the cookie and the record are measured.
ssize_t push_copy(void* ptr, const void* data, size_t size) {
  auto* buf = static_cast<push_buffer*>(ptr);
  if (size > sizeof buf->bytes) return -1;
  std::memcpy(buf->bytes, data, size);
  buf->size = size;
  return ssize_t(size);
}

class writer {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    u8(uint8_t(v >> 8));
    u8(uint8_t(v));
  }
  void u24(uint32_t v) {
    u8(uint8_t(v >> 16));
    u16(uint16_t(v));
  }
  void u48(uint64_t v) {
    u16(uint16_t(v >> 32));
    u16(uint16_t(v >> 16));
    u16(uint16_t(v));
  }
  void bytes(std::span<const uint8_t> b) {
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void u16_list(std::initializer_list<uint16_t> values) {
    for (uint16_t v : values) u16(v);
  }
  void patch_u16(size_t pos, size_t v) {
    out_[pos] = uint8_t(v >> 8);
    out_[pos + 1] = uint8_t(v);
  }
  void patch_u24(size_t pos, size_t v) {
    out_[pos] = uint8_t(v >> 16);
    patch_u16(pos + 1, v);
  }
  size_t size() const { return out_.size(); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// A DTLS 1.2 ClientHello like the one GnuTLS or OpenSSL clients send after
// a HelloVerifyRequest: record and message_seq 1, empty session_id, the
// cookie, common suites and extensions, and a padding extension up to
// kClientHelloLen.
std::vector<uint8_t> build_client_hello(std::span<const uint8_t> cookie) {
  writer w;
  w.u8(DC_CONTENT_HANDSHAKE);
  w.u16(DC_VERSION_DTLS12);
  w.u16(0);  // epoch
  w.u48(1);  // record sequence
  const size_t record_len_pos = w.size();
  w.u16(0);

  w.u8(DC_HS_CLIENT_HELLO);
  const size_t hs_len_pos = w.size();
  w.u24(0);
  w.u16(1);  // message_seq
  w.u24(0);  // fragment_offset
  const size_t frag_len_pos = w.size();
  w.u24(0);

  w.u16(DC_VERSION_DTLS12);
  for (unsigned i = 0; i < DC_RANDOM_LEN; ++i) w.u8(uint8_t(0x5a ^ (i * 37)));
  w.u8(0);  // session_id
  w.u8(uint8_t(cookie.size()));
  w.bytes(cookie);

  const auto suites = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc009,
                       0xc013, 0xc00a, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  w.u16(uint16_t(2 * suites.size()));
  for (int s : suites) w.u16(uint16_t(s));
  w.u8(1);  // compression methods: null only
  w.u8(0);

  const size_t ext_len_pos = w.size();
  w.u16(0);
  w.u16_list({0xff01, 1});  // renegotiation_info, empty
  w.u8(0);
  w.u16_list({0x0017, 0});  // extended_master_secret
  w.u16_list({0x0023, 0});  // session_ticket, empty
  w.u16_list({0x000a, 10, 8, 0x001d, 0x0017, 0x0018, 0x0019});
  w.u16_list({0x000b, 2});  // ec_point_formats: uncompressed
  w.u8(1);
  w.u8(0);
  w.u16_list({0x000d, 22, 20, 0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806,
              0x0401, 0x0501, 0x0601, 0x0203});
  w.u16_list({0x0016, 0});  // encrypt_then_mac

  if (w.size() + 4 > kClientHelloLen) return {};
  const size_t pad = kClientHelloLen - w.size() - 4;
  w.u16_list({0x0015, uint16_t(pad)});
  for (size_t i = 0; i < pad; ++i) w.u8(0);

  const size_t total = w.size();
  w.patch_u16(record_len_pos, total - DC_RECORD_HEADER_LEN);
  const size_t body_len =
      total - DC_RECORD_HEADER_LEN - DC_HANDSHAKE_HEADER_LEN;
  w.patch_u24(hs_len_pos, body_len);
  w.patch_u24(frag_len_pos, body_len);
  w.patch_u16(ext_len_pos, total - ext_len_pos - 2);
  return w.take();
}

// The cookie bytes of a HelloVerifyRequest, empty if the record is not one
// of the expected size.
std::vector<uint8_t> cookie_of(const push_buffer& hvr, size_t record_len,
                               size_t cookie_len) {
  if (hvr.size != record_len || hvr.bytes[kHvrCookieLenOffset] != cookie_len)
    return {};
  const uint8_t* c = hvr.bytes + kHvrCookieLenOffset + 1;
  return {c, c + cookie_len};
}

// A copy with the last cookie byte flipped: the tag no longer verifies but
// the key generation still names a key, so the full MAC is computed.
std::vector<uint8_t> with_bad_cookie(std::vector<uint8_t> hello,
                                     size_t cookie_len) {
  const size_t cookie_end = DC_OFF_SESSION_ID_LEN + 2 + cookie_len;
  hello[cookie_end - 1] ^= 0x01;
  return hello;
}

// Inputs shared by every benchmark: one client, one key per mode, and the
// ClientHellos carrying the cookies that each mode's send produced.
struct fixture {
  sockaddr_in6 client{};
  dc::key_set keys;
  gnutls_datum_t gnutls_key{};
  dc::gnutls_compat::datum compat_key;
  std::vector<uint8_t> siphash_valid, siphash_bad;
  std::vector<uint8_t> gnutls_valid, gnutls_bad;
  dc::prestate send_prestate{1, 1, 0};
  gnutls_dtls_prestate_st gnutls_send_prestate{1, 1, 0};

  ~fixture() { gnutls_free(gnutls_key.data); }
};

// Builds the fixture; a message on stderr and false if a send fails. That
// each verify accepts its own cookie is checked on every iteration.
bool make_fixture(fixture& f) {
  f.client.sin6_family = AF_INET6;
  f.client.sin6_port = htons(50123);
  const uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,
                            0,    0,    0,    0,    0, 0, 0x12, 0x34};
  std::memcpy(f.client.sin6_addr.s6_addr, addr, sizeof addr);

  f.keys = dc::key_set(dc::random_key(7));
  if (gnutls_key_generate(&f.gnutls_key, GNUTLS_COOKIE_KEY_SIZE) < 0) {
    std::fprintf(stderr, "bench_cookie: gnutls_key_generate failed\n");
    return false;
  }
  f.compat_key = {f.gnutls_key.data, f.gnutls_key.size};

  push_buffer ours, theirs, compat;
  const int r1 = dc::cookie_send(&f.keys, &f.client, sizeof f.client,
                                 &f.send_prestate, &ours, push_copy);
  const int r2 =
      gnutls_dtls_cookie_send(&f.gnutls_key, &f.client, sizeof f.client,
                              &f.gnutls_send_prestate, &theirs, push_copy);
  const int r3 =
      dc::gnutls_compat::cookie_send(&f.compat_key, &f.client, sizeof f.client,
                                     &f.send_prestate, &compat, push_copy);
  const auto siphash_cookie = cookie_of(ours, DC_HVR_LEN, DC_COOKIE_LEN);
  const auto gnutls_cookie = cookie_of(theirs, dc::gnutls_compat::kRecordLen,
                                       dc::gnutls_compat::kCookieLen);
  if (r1 < 0 || r2 < 0 || r3 < 0 || siphash_cookie.empty() ||
      gnutls_cookie.empty()) {
    std::fprintf(stderr, "bench_cookie: a send failed (%d, %d, %d)\n", r1, r2,
                 r3);
    return false;
  }
  // The compat mode is only worth timing if it is what it claims to be.
  if (compat.size != theirs.size ||
      std::memcmp(compat.bytes, theirs.bytes, theirs.size) != 0) {
    std::fprintf(stderr,
                 "bench_cookie: gnutls_compat record differs from "
                 "libgnutls's\n");
    return false;
  }

  f.siphash_valid = build_client_hello(siphash_cookie);
  f.gnutls_valid = build_client_hello(gnutls_cookie);
  // Both must be whole, well-formed ClientHellos, not just enough bytes
  // for the fixed offsets libgnutls reads.
  for (const auto* hello : {&f.siphash_valid, &f.gnutls_valid}) {
    if (hello->size() != kClientHelloLen ||
        !dc::wire::parse_client_hello(*hello).ok()) {
      std::fprintf(stderr, "bench_cookie: ClientHello is malformed\n");
      return false;
    }
  }
  f.siphash_bad = with_bad_cookie(f.siphash_valid, DC_COOKIE_LEN);
  f.gnutls_bad = with_bad_cookie(f.gnutls_valid, dc::gnutls_compat::kCookieLen);
  return true;
}

template <typename Op>
void run_loop(benchmark::State& state, int expect, Op op) {
  for (auto _ : state) {
    const int ret = op();
    if (ret != expect) {
      state.SkipWithError(dc::strerror(ret));
      break;
    }
  }
}

// --- send ---

void send_siphash(benchmark::State& state, fixture& f) {
  push_buffer buf;
  run_loop(state, DC_HVR_LEN, [&] {
    const int ret = dc::cookie_send(&f.keys, &f.client, sizeof f.client,
                                    &f.send_prestate, &buf, push_copy);
    benchmark::DoNotOptimize(buf);
    return ret;
  });
}

void send_compat(benchmark::State& state, fixture& f) {
  push_buffer buf;
  run_loop(state, dc::gnutls_compat::kRecordLen, [&] {
    const int ret = dc::gnutls_compat::cookie_send(
        &f.compat_key, &f.client, sizeof f.client, &f.send_prestate, &buf,
        push_copy);
    benchmark::DoNotOptimize(buf);
    return ret;
  });
}

void send_libgnutls(benchmark::State& state, fixture& f) {
  push_buffer buf;
  run_loop(state, dc::gnutls_compat::kRecordLen, [&] {
    const int ret =
        gnutls_dtls_cookie_send(&f.gnutls_key, &f.client, sizeof f.client,
                                &f.gnutls_send_prestate, &buf, push_copy);
    benchmark::DoNotOptimize(buf);
    return ret;
  });
}

// --- verify ---

void verify_siphash(benchmark::State& state, fixture& f,
                    const std::vector<uint8_t>& hello, int expect) {
  dc::prestate ps;
  run_loop(state, expect, [&] {
    const int ret = dc::cookie_verify(&f.keys, &f.client, sizeof f.client,
                                      hello.data(), hello.size(), &ps);
    benchmark::DoNotOptimize(ps);
    return ret;
  });
}

void verify_compat(benchmark::State& state, fixture& f,
                   const std::vector<uint8_t>& hello, int expect) {
  dc::prestate ps;
  run_loop(state, expect, [&] {
    const int ret = dc::gnutls_compat::cookie_verify(
        &f.compat_key, &f.client, sizeof f.client, hello.data(), hello.size(),
        &ps);
    benchmark::DoNotOptimize(ps);
    return ret;
  });
}

void verify_libgnutls(benchmark::State& state, fixture& f,
                      const std::vector<uint8_t>& hello, int expect) {
  gnutls_dtls_prestate_st ps{};
  // libgnutls only reads the datagram; its parameter is just not const.
  void* msg = const_cast<uint8_t*>(hello.data());
  run_loop(state, expect, [&] {
    const int ret = gnutls_dtls_cookie_verify(
        &f.gnutls_key, &f.client, sizeof f.client, msg, hello.size(), &ps);
    benchmark::DoNotOptimize(ps);
    return ret;
  });
}

// Registered names: "<operation>/<mode>".
constexpr const char* kModes[] = {"siphash", "gnutls_compat", "libgnutls"};
constexpr const char* kOperations[] = {"send", "verify_valid", "verify_bad"};

void register_benchmarks(fixture& f) {
  auto reg = [](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)
        ->Unit(benchmark::kNanosecond);
  };
  reg("send/siphash", [&f](benchmark::State& s) { send_siphash(s, f); });
  reg("send/gnutls_compat", [&f](benchmark::State& s) { send_compat(s, f); });
  reg("send/libgnutls", [&f](benchmark::State& s) { send_libgnutls(s, f); });
  reg("verify_valid/siphash", [&f](benchmark::State& s) {
    verify_siphash(s, f, f.siphash_valid, dc::kSuccess);
  });
  reg("verify_valid/gnutls_compat", [&f](benchmark::State& s) {
    verify_compat(s, f, f.gnutls_valid, dc::kSuccess);
  });
  reg("verify_valid/libgnutls", [&f](benchmark::State& s) {
    verify_libgnutls(s, f, f.gnutls_valid, GNUTLS_E_SUCCESS);
  });
  reg("verify_bad/siphash", [&f](benchmark::State& s) {
    verify_siphash(s, f, f.siphash_bad, dc::kErrBadCookie);
  });
  reg("verify_bad/gnutls_compat", [&f](benchmark::State& s) {
    verify_compat(s, f, f.gnutls_bad, dc::kErrBadCookie);
  });
  reg("verify_bad/libgnutls", [&f](benchmark::State& s) {
    verify_libgnutls(s, f, f.gnutls_bad, GNUTLS_E_BAD_COOKIE);
  });
}

// Prints like the console reporter and keeps each benchmark's CPU time per
// iteration, so the ratios come from the figures just printed.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const std::string& name = run.run_name.function_name;
      repetitions_[name] = size_t(run.repetitions);
      if (run.error_occurred) {
        failed_.insert(name);
      } else if (run.run_type == Run::RT_Iteration) {
        samples_[name].push_back(run.GetAdjustedCPUTime());
      } else if (run.aggregate_name == "median") {
        aggregate_median_[name] = run.GetAdjustedCPUTime();
      }
    }
  }

  // The median over repetitions; the aggregate is only needed when the
  // single runs were not shown (--benchmark_display_aggregates_only).
  std::optional<double> median_ns(const std::string& name) const {
    if (failed_.count(name)) return std::nullopt;
    if (auto it = samples_.find(name); it != samples_.end()) {
      std::vector<double> v = it->second;
      std::sort(v.begin(), v.end());
      const size_t n = v.size();
      return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
    if (auto it = aggregate_median_.find(name); it != aggregate_median_.end())
      return it->second;
    return std::nullopt;
  }

  bool empty() const { return samples_.empty() && aggregate_median_.empty(); }

  size_t repetitions(const std::string& name) const {
    auto it = repetitions_.find(name);
    return it == repetitions_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, double> aggregate_median_;
  std::map<std::string, size_t> repetitions_;
  std::set<std::string> failed_;
};

std::optional<double> ratio(std::optional<double> num,
                            std::optional<double> den) {
  if (!num || !den || *den <= 0) return std::nullopt;
  return *num / *den;
}

std::string fmt(std::optional<double> v, const char* spec) {
  if (!v) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, *v);
  return buf;
}

std::string json_number(std::optional<double> v) {
  return v ? fmt(v, "%.4g") : "null";
}

struct results {
  // [operation][mode] median CPU ns.
  std::optional<double> ns[3][3];
  std::optional<double> vs_siphash[3], vs_compat[3];
  std::optional<bool> bar_met;
  size_t repetitions = 0;
};

results summarise(const ratio_reporter& rep) {
  results r;
  for (int op = 0; op < 3; ++op) {
    for (int m = 0; m < 3; ++m)
      r.ns[op][m] =
          rep.median_ns(std::string(kOperations[op]) + "/" + kModes[m]);
    r.vs_siphash[op] = ratio(r.ns[op][2], r.ns[op][0]);
    r.vs_compat[op] = ratio(r.ns[op][2], r.ns[op][1]);
  }
  r.repetitions = rep.repetitions("send/siphash");
  if (r.vs_siphash[0] && r.vs_siphash[1] && r.vs_siphash[2])
    r.bar_met = *r.vs_siphash[0] >= kBar && *r.vs_siphash[1] >= kBar &&
                *r.vs_siphash[2] >= kBar;
  return r;
}

void print_results(const results& r) {
  std::printf(
      "\nMedian CPU time per call (ns) over %zu repetitions, and how many "
      "times\nfaster than libgnutls each mode is (libgnutls_ns / mode_ns):\n\n",
      r.repetitions);
  std::printf("%-14s %9s %9s %9s  %16s %16s\n", "", "siphash", "compat",
              "libgnutls", "gnutls/siphash", "gnutls/compat");
  for (int op = 0; op < 3; ++op)
    std::printf("%-14s %9s %9s %9s  %16s %16s\n", kOperations[op],
                fmt(r.ns[op][0], "%.1f").c_str(),
                fmt(r.ns[op][1], "%.1f").c_str(),
                fmt(r.ns[op][2], "%.1f").c_str(),
                fmt(r.vs_siphash[op], "%.2fx").c_str(),
                fmt(r.vs_compat[op], "%.2fx").c_str());
  std::printf(
      "\nBar: SipHash mode at least %.0fx faster than libgnutls for "
      "send and verify (valid and bad cookie): %s\n",
      kBar,
      !r.bar_met   ? "NOT EVALUATED (a benchmark is missing)"
      : *r.bar_met ? "MET"
                   : "NOT MET");
}

bool write_json(const results& r, const std::string& path) {
  std::ofstream out(path);
  const char* keys[] = {"send", "verify", "verify_bad"};
  out << "{\n  \"time\": \"median cpu ns per call\",\n"
      << "  \"repetitions\": " << r.repetitions << ",\n";
  for (int op = 0; op < 3; ++op)
    for (int m = 0; m < 3; ++m)
      out << "  \"" << kModes[m] << "_" << keys[op]
          << "_ns\": " << json_number(r.ns[op][m]) << ",\n";
  for (int op = 0; op < 3; ++op)
    out << "  \"" << keys[op]
        << "_ratio_vs_gnutls\": " << json_number(r.vs_siphash[op]) << ",\n";
  for (int op = 0; op < 3; ++op)
    out << "  \"compat_" << keys[op]
        << "_ratio_vs_gnutls\": " << json_number(r.vs_compat[op]) << ",\n";
  out << "  \"bar\": " << kBar << ",\n  \"bar_met\": "
      << (!r.bar_met   ? "null"
          : *r.bar_met ? "true"
                       : "false")
      << "\n}\n";
  out.close();
  if (!out) {
    std::fprintf(stderr, "bench_cookie: cannot write %s\n", path.c_str());
    return false;
  }
  std::printf("Ratios written to %s\n", path.c_str());
  return true;
}

void print_help() {
  benchmark::PrintDefaultHelp();
  std::printf(
      "\nbench_cookie options:\n"
      "  --json FILE   also write the ratios to FILE (without it,\n"
      "                --benchmark_out=X writes them to X.ratios.json)\n"
      "Defaults unless given:\n");
  for (std::string_view flag : kDefaultFlags)
    std::printf("  %.*s\n", int(flag.size()), flag.data());
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args{argv[0]};
  std::string json_path, benchmark_out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (starts_with(a, "--json=")) {
      json_path = a.substr(7);
    } else {
      if (starts_with(a, "--benchmark_out=")) benchmark_out = a.substr(16);
      args.emplace_back(a);
    }
  }
  for (std::string_view flag : kDefaultFlags) {
    const auto name = flag.substr(0, flag.find('=') + 1);
    if (std::none_of(args.begin(), args.end(), [&](const std::string& a) {
          return starts_with(a, name);
        }))
      args.emplace_back(flag);
  }
  if (json_path.empty() && !benchmark_out.empty())
    json_path = std::filesystem::path(benchmark_out)
                    .replace_extension(".ratios.json")
                    .string();

  std::vector<char*> bm_argv;
  for (auto& a : args) bm_argv.push_back(a.data());
  bm_argv.push_back(nullptr);
  int bm_argc = int(args.size());
  benchmark::Initialize(&bm_argc, bm_argv.data(), print_help);
  if (benchmark::ReportUnrecognizedArguments(bm_argc, bm_argv.data())) return 2;

  fixture f;
  if (!make_fixture(f)) return 1;
  register_benchmarks(f);
  benchmark::AddCustomContext("libgnutls", gnutls_check_version(nullptr));
  benchmark::AddCustomContext("client_hello_bytes",
                              std::to_string(kClientHelloLen));

  ratio_reporter reporter(isatty(STDOUT_FILENO)
                              ? benchmark::ConsoleReporter::OO_Color
                              : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (reporter.empty()) return 0;  // --benchmark_list_tests or a filter

  const results r = summarise(reporter);
  print_results(r);
  if (!json_path.empty() && !write_json(r, json_path)) return 1;
  return 0;
}
