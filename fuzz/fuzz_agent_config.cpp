// libFuzzer target: the agent's command line and --config file, parsed and
// resolved exactly as main() does, never run. The input's first line is
// the argument vector (split at spaces); the rest, when there is any, is
// the config file's text, passed with --config before the arguments.
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cli.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/responder.hpp"
#include "fuzz_util.hpp"

namespace {

namespace dc = dtls_cookie;
namespace ag = dtls_cookie::agent;

// Absolute and normal, without a trailing '/' (cli.cpp's promise to the
// lock and the messages).
void check_pin_dir(const std::filesystem::path& p) {
  FUZZ_CHECK(p.is_absolute());
  FUZZ_CHECK(p == p.lexically_normal());
  FUZZ_CHECK(p == "/" || p.string().back() != '/');
}

void check_interval(std::chrono::seconds s) {
  FUZZ_CHECK(s.count() >= 1 && s.count() <= 86400);
}

void check_attach(const ag::attach_options& o) {
  FUZZ_CHECK(!o.ifaces.empty());
  FUZZ_CHECK(!o.responder.ports.empty());
  for (uint16_t port : o.responder.ports) FUZZ_CHECK(port != 0);
  const auto& r = o.responder;
  for (dc_policy p : {r.established, r.fragmented, r.malformed, r.no_keys})
    FUZZ_CHECK(p == DC_POLICY_PASS || p == DC_POLICY_DROP);
  FUZZ_CHECK(r.dtls13 == DC_POLICY_PASS || r.dtls13 == DC_POLICY_DROP ||
             r.dtls13 == DC_POLICY_ANSWER);
  FUZZ_CHECK(r.server_version == DC_VERSION_DTLS10 ||
             r.server_version == DC_VERSION_DTLS12);
  FUZZ_CHECK(r.reply_rate <= DC_REPLY_RATE_MAX);
  FUZZ_CHECK(r.reply_burst >= 1 && r.reply_burst <= DC_REPLY_BURST_MAX);
  FUZZ_CHECK(r.reply_prefix4 >= 1 && r.reply_prefix4 <= 32);
  FUZZ_CHECK(r.reply_prefix6 >= 1 && r.reply_prefix6 <= 128);
  FUZZ_CHECK(r.reply_table_size >= 1 &&
             r.reply_table_size <= DC_REPLY_TABLE_MAX);
  check_pin_dir(o.pin_dir);
  check_interval(o.keys.interval);
  FUZZ_CHECK(!o.keys.secret_file || !o.keys.secret_file->empty());
  // What attach does next: the kernel configuration, or a message.
  try {
    static_cast<void>(dc::to_config(o.responder));
  } catch (const dc::error&) {
  }
}

// What the checks look at, as text: two parses of one input must agree.
struct describe {
  std::ostringstream s;
  void operator()(const ag::attach_options& o) {
    s << "attach";
    for (const auto& i : o.ifaces) s << ' ' << i;
    for (uint16_t p : o.responder.ports) s << ' ' << p;
    s << ' ' << o.responder.local_addrs.size() << ' ' << o.pin_dir << ' '
      << o.keys.interval.count() << ' ' << o.responder.reply_rate << ' '
      << o.responder.reply_prefix6 << ' ' << int(o.mode) << o.replace;
  }
  void operator()(const ag::detach_command& c) {
    s << "detach " << c.iface << ' ' << c.pin_dir;
  }
  void operator()(const ag::rotate_command& c) {
    s << "rotate " << c.pin_dir << ' ' << c.keys.interval.count();
  }
  void operator()(const ag::status_command& c) {
    s << "status " << c.pin_dir << c.json;
  }
  void operator()(const ag::stats_command& c) {
    s << "stats " << c.pin_dir << c.json << c.watch_seconds.value_or(-1) << ' '
      << c.count.value_or(0);
  }
  void operator()(const ag::check_options& c) {
    s << "check " << c.pin_dir << ' ' << c.count << ' ' << c.seed;
  }
  void operator()(const ag::run_options& c) {
    (*this)(c.attach);
    s << " run " << c.metrics.value_or("-") << c.skip_check;
  }
};

struct check_resolved {
  void operator()(const ag::attach_options& o) { check_attach(o); }
  void operator()(const ag::detach_command& c) { check_pin_dir(c.pin_dir); }
  void operator()(const ag::rotate_command& c) {
    check_pin_dir(c.pin_dir);
    check_interval(c.keys.interval);
  }
  void operator()(const ag::status_command& c) { check_pin_dir(c.pin_dir); }
  void operator()(const ag::stats_command& c) {
    check_pin_dir(c.pin_dir);
    FUZZ_CHECK(!c.watch_seconds || *c.watch_seconds > 0);
    // --count needs --watch.
    FUZZ_CHECK(!c.count || (c.watch_seconds && *c.count >= 1));
  }
  void operator()(const ag::check_options& c) {
    check_pin_dir(c.pin_dir);
    FUZZ_CHECK(c.count >= 1 && c.count <= 10000000u);
  }
  void operator()(const ag::run_options& c) { check_attach(c.attach); }
};

// One parse as main() does it. Returns the resolved command as text, or
// empty when the command line was refused. parse() may only throw
// CLI11's errors, resolve() only dtls_cookie::error: anything else would
// end the agent in std::terminate.
std::string parse_once(const std::vector<std::string>& args) {
  ag::command_line cli;
  try {
    cli.parse(args);
  } catch (const CLI::ParseError& e) {
    // main() prints these through exit(); help and version are not errors.
    std::ostringstream out, err;
    const int code = cli.app().exit(e, out, err);
    const bool info = dynamic_cast<const CLI::CallForHelp*>(&e) ||
                      dynamic_cast<const CLI::CallForAllHelp*>(&e) ||
                      dynamic_cast<const CLI::CallForVersion*>(&e);
    FUZZ_CHECK((code == 0) == info);
    return {};
  }
  std::optional<ag::command> c;
  try {
    c = cli.resolve();
  } catch (const dc::error&) {
    return "refused";
  }
  std::visit(check_resolved{}, *c);
  describe d;
  std::visit(d, *c);
  return d.s.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t eol = in.find('\n');
  const std::string_view line = in.substr(0, eol);
  const std::string_view text =
      eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);

  // A --config of the input's choosing could name /dev/zero or a fifo:
  // the operator's choice, not a fault to find. The file is ours alone.
  if (in.find("config") != std::string_view::npos) return -1;

  std::vector<std::string> args;
  if (!text.empty()) {
    static const int fd = memfd_create("fuzz-agent-config", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, text.data(), text.size(), 0) == ssize_t(text.size()));
    args = {"--config", "/proc/self/fd/" + std::to_string(fd)};
  }
  for (size_t at = 0; at <= line.size();) {
    size_t end = line.find(' ', at);
    if (end == std::string_view::npos) end = line.size();
    if (end > at) args.emplace_back(line.substr(at, end - at));
    at = end + 1;
  }

  const std::string first = parse_once(args);
  FUZZ_CHECK(parse_once(args) == first);
  return 0;
}
