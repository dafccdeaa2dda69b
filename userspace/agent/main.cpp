// dtls-cookie, the agent: parses the command line, sets up logging and
// runs one subcommand. Every failure a subcommand cannot handle ends here
// as one line on stderr and exit code 1; usage errors exit with 2.
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "commands.hpp"
#include "dtls_cookie/error.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {
namespace {

// Log levels, the same in every subcommand, all on stderr:
//   error  the command fails (main prints the reason as "dtls-cookie: ...")
//   warn   degraded but continuing: an address left out of the program,
//          an interface kept in another mode than asked for
//   info   what was attached where, each key rotation, what was removed
//   debug  only with -v: our own details and libbpf's messages, among them
//          the verifier's log when a load fails
void setup_logging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("dtls-cookie");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
  libbpf_set_print([](libbpf_print_level, const char* fmt, va_list args) {
    if (!spdlog::should_log(spdlog::level::debug)) return 0;
    char buf[1024];
    const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    std::string_view msg(buf, n < 0 ? 0 : std::min<size_t>(n, sizeof buf - 1));
    while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
    spdlog::debug("{}", msg);  // libbpf starts each line with "libbpf: "
    return n;
  });
}

const std::map<std::string, dc_policy> kPassDrop = {{"pass", DC_POLICY_PASS},
                                                    {"drop", DC_POLICY_DROP}};
const std::map<std::string, dc_policy> kPassDropAnswer = {
    {"pass", DC_POLICY_PASS},
    {"drop", DC_POLICY_DROP},
    {"answer", DC_POLICY_ANSWER}};

// The command line's spelling of attach_options, turned into it once
// parsing succeeded.
struct attach_cli {
  std::vector<std::string> ifaces;
  std::vector<int> ports;
  std::string mode = "native";
  std::string pin_dir = kDefaultPinDir;
  std::string secret_file;
  int interval = 60;
  bool replace = false;
  std::string established = "pass", fragmented = "pass", dtls13 = "pass",
              malformed = "drop", no_keys = "pass", server_version = "1.0";
  std::vector<std::string> local_addrs;

  attach_options resolve() const;
};

std::array<uint8_t, 16> parse_addr(const std::string& s) {
  std::array<uint8_t, 16> a{};
  if (inet_pton(AF_INET6, s.c_str(), a.data()) == 1) return a;
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) != 1)
    throw error("'" + s + "' is not an IPv4 or IPv6 address");
  a[10] = a[11] = 0xff;
  std::memcpy(a.data() + 12, &v4, 4);
  return a;
}

// A set of words; the option's type name spells them a|b|c instead of
// CLI11's TEXT:{a,b,c}.
CLI::Validator one_of(std::vector<std::string> words) {
  return CLI::IsMember(words).description("");
}

const CLI::Validator kPort(
    [](std::string& s) {
      if (s.empty() || s.size() > 5 ||
          s.find_first_not_of("0123456789") != std::string::npos)
        return "'" + s + "' is not a UDP port number (1-65535)";
      const int port = std::stoi(s);
      if (port < 1 || port > 65535)
        return "port " + s + " is out of range (1-65535)";
      return std::string();
    },
    "");

const CLI::Validator kAddress(
    [](std::string& s) {
      in6_addr v6;
      in_addr v4;
      if (inet_pton(AF_INET6, s.c_str(), &v6) == 1 ||
          inet_pton(AF_INET, s.c_str(), &v4) == 1)
        return std::string();
      return "'" + s + "' is not an IPv4 or IPv6 address";
    },
    "ADDR");

attach_options attach_cli::resolve() const {
  attach_options o;
  o.ifaces = ifaces;
  for (int p : ports) o.responder.ports.push_back(uint16_t(p));
  o.responder.established = kPassDrop.at(established);
  o.responder.fragmented = kPassDrop.at(fragmented);
  o.responder.dtls13 = kPassDropAnswer.at(dtls13);
  o.responder.malformed = kPassDrop.at(malformed);
  o.responder.no_keys = kPassDrop.at(no_keys);
  o.responder.server_version =
      server_version == "1.2" ? DC_VERSION_DTLS12 : DC_VERSION_DTLS10;
  for (const std::string& a : local_addrs)
    o.responder.local_addrs.push_back(parse_addr(a));
  o.mode = mode == "skb" ? attach_mode::generic : attach_mode::native;
  o.replace = replace;
  o.pin_dir = pin_dir;
  if (!secret_file.empty()) o.keys.secret_file = secret_file;
  o.keys.interval = std::chrono::seconds(interval);
  return o;
}

// Absolute, without a trailing '/': messages name the real place, and the
// lock is taken on the directory's parent.
const CLI::Validator kPinDir(
    [](std::string& s) {
      std::filesystem::path p = std::filesystem::absolute(s).lexically_normal();
      if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();
      s = p.string();
      return std::string();
    },
    "");

void add_pin_dir(CLI::App* cmd, std::string& pin_dir) {
  cmd->add_option("--pin-dir", pin_dir,
                  "bpffs directory of the instance (program, maps, links)")
      ->type_name("DIR")
      ->transform(kPinDir);
}

void add_secret_file(CLI::App* cmd, std::string& file) {
  cmd->add_option("--secret-file", file,
                  "fleet keys: derive each epoch's key from this file (at "
                  "least 16 random bytes) instead of random keys")
      ->type_name("FILE")
      ->group("Keys");
}

// The options attach and run share; run names the key interval
// --rotate-every, so the caller adds that one.
void add_attach_options(CLI::App* cmd, attach_cli& a) {
  cmd->add_option("--port", a.ports,
                  "UDP port(s) the DTLS server listens on; repeat or separate "
                  "with commas")
      ->required()
      ->delimiter(',')
      ->type_name("P[,P...]")
      ->check(kPort)
      ->default_str("");
  cmd->add_option("--mode", a.mode,
                  "native: in the driver; skb: on the generic path, for any "
                  "device (never chosen silently)")
      ->check(one_of({"native", "skb"}))
      ->type_name("native|skb");
  add_pin_dir(cmd, a.pin_dir);
  cmd->add_flag("--replace", a.replace,
                "remove an XDP program another tool attached to the "
                "interface (through netlink) instead of refusing");
  add_secret_file(cmd, a.secret_file);

  const char* policy = "Policy (datagrams to the ports that are not answered)";
  cmd->add_option("--established", a.established,
                  "other records of a session in progress")
      ->check(one_of({"pass", "drop"}))
      ->type_name("pass|drop")
      ->group(policy);
  cmd->add_option("--fragmented", a.fragmented,
                  "a ClientHello split over several records")
      ->check(one_of({"pass", "drop"}))
      ->type_name("pass|drop")
      ->group(policy);
  cmd->add_option("--dtls13", a.dtls13,
                  "a ClientHello offering DTLS 1.3; answer: as DTLS 1.2")
      ->check(one_of({"pass", "drop", "answer"}))
      ->type_name("pass|drop|answer")
      ->group(policy);
  cmd->add_option("--malformed", a.malformed, "not a parseable DTLS record")
      ->check(one_of({"pass", "drop"}))
      ->type_name("pass|drop")
      ->group(policy);
  cmd->add_option("--no-keys", a.no_keys,
                  "any ClientHello while no key set is published")
      ->check(one_of({"pass", "drop"}))
      ->type_name("pass|drop")
      ->group(policy);
  cmd->add_option("--server-version", a.server_version,
                  "DTLS version written into the HelloVerifyRequest")
      ->check(one_of({"1.0", "1.2"}))
      ->type_name("1.0|1.2")
      ->group(policy);
  cmd->add_option("--local-addr", a.local_addrs,
                  "a host address never answered (repeatable); the attached "
                  "interfaces' own addresses are added")
      ->type_name("ADDR")
      ->check(kAddress.description(""))
      ->default_str("")
      ->group(policy);
}

int run(int argc, char** argv) {
  CLI::App app{
      "dtls-cookie: answers DTLS ClientHellos without a valid cookie with a "
      "HelloVerifyRequest in XDP, before they reach the server, and manages "
      "that responder: its interfaces, keys, counters and self-check.",
      "dtls-cookie"};
  app.set_version_flag("--version",
                       std::string("dtls-cookie ") + DC_AGENT_VERSION);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose,
               "debug logs, with libbpf's messages (the verifier's log)");
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(30);

  attach_cli at;
  CLI::App* attach = app.add_subcommand(
      "attach", "put the responder on interfaces (pinned; stays after exit)");
  attach
      ->add_option("--iface", at.ifaces,
                   "interface(s); repeat or separate with commas")
      ->required()
      ->delimiter(',')
      ->type_name("IF[,IF...]")
      ->default_str("");
  add_attach_options(attach, at);
  attach
      ->add_option("--key-interval", at.interval,
                   "fleet keys: epoch length in seconds (equal on every "
                   "host); a cookie then verifies for 1 to 2 epochs")
      ->check(CLI::Range(1, 86400).description(""))
      ->type_name("SECONDS")
      ->group("Keys");
  attach->footer(
      "A second attach with the same ports and policies shares the pinned "
      "instance and its keys.\n\n"
      "Examples:\n"
      "  dtls-cookie attach --iface eth0 --port 4433\n"
      "      answer ClientHellos to UDP 4433 on eth0 in the driver, random "
      "keys\n"
      "  dtls-cookie attach --iface eth1 --port 4433 --mode skb\n"
      "      add eth1 on the generic path, sharing eth0's keys\n"
      "  dtls-cookie attach --iface eth0 --port 4433,5684 --secret-file "
      "/etc/dtls-cookie/secret\n"
      "      fleet keys: servers on other hosts accept the same cookies\n");

  std::string detach_iface, detach_pin_dir = kDefaultPinDir;
  CLI::App* detach = app.add_subcommand(
      "detach", "take the responder off an interface; the last one unpins it");
  detach->add_option("--iface", detach_iface, "interface")
      ->required()
      ->type_name("IF");
  add_pin_dir(detach, detach_pin_dir);
  detach->footer(
      "Examples:\n"
      "  dtls-cookie detach --iface eth0\n"
      "      remove the program from eth0 (only what dtls-cookie attached)\n");

  std::string rotate_pin_dir = kDefaultPinDir, rotate_secret;
  int rotate_interval = 60;
  CLI::App* rotate = app.add_subcommand(
      "rotate",
      "publish a new current key; the old one stays valid as "
      "previous");
  add_pin_dir(rotate, rotate_pin_dir);
  add_secret_file(rotate, rotate_secret);
  rotate
      ->add_option("--key-interval", rotate_interval,
                   "fleet keys: epoch length in seconds")
      ->check(CLI::Range(1, 86400).description(""))
      ->type_name("SECONDS")
      ->group("Keys");
  rotate->footer(
      "Examples:\n"
      "  dtls-cookie rotate\n"
      "      a random key with the next generation becomes current\n"
      "  dtls-cookie rotate --secret-file /etc/dtls-cookie/secret\n"
      "      publish the fleet's keys for the current epoch (from cron or a "
      "timer)\n");

  std::string status_pin_dir = kDefaultPinDir;
  bool status_json = false;
  CLI::App* status = app.add_subcommand(
      "status", "interfaces, ports, policies, local addresses and keys");
  status->add_flag("--json", status_json, "JSON instead of text");
  add_pin_dir(status, status_pin_dir);
  status->footer(
      "Examples:\n"
      "  dtls-cookie status --json | jq .keys\n"
      "      key generations and their ages, machine-readable\n");

  std::string stats_pin_dir = kDefaultPinDir;
  bool stats_json = false;
  double stats_watch = 0;
  unsigned stats_count = 0;
  CLI::App* stats = app.add_subcommand(
      "stats", "the counters, summed over CPUs; rates with --watch");
  stats->add_flag("--json", stats_json,
                  "JSON instead of a table (one object per line with --watch)");
  CLI::Option* watch_opt =
      stats
          ->add_option("--watch", stats_watch,
                       "print a sample with per-second rates every SECONDS, "
                       "until interrupted")
          ->check(CLI::PositiveNumber.description(""))
          ->type_name("SECONDS")
          ->default_str("");
  stats
      ->add_option("--count", stats_count,
                   "stop after N samples (default: until SIGINT)")
      ->check(CLI::Range(1u, 1000000000u).description(""))
      ->needs(watch_opt)
      ->type_name("N")
      ->default_str("");
  add_pin_dir(stats, stats_pin_dir);
  stats->footer(
      "Examples:\n"
      "  dtls-cookie stats\n"
      "      every counter's total\n"
      "  dtls-cookie stats --watch 1 --count 10\n"
      "      ten samples a second apart with per-second rates\n");

  check_options ck;
  std::string check_pin_dir = kDefaultPinDir;
  CLI::App* check = app.add_subcommand(
      "check",
      "run the pinned program on generated frames and compare every verdict "
      "and byte with the reference model");
  check->add_option("--count", ck.count, "number of generated ClientHellos")
      ->check(CLI::Range(1u, 10000000u).description(""))
      ->type_name("N");
  check->add_option("--seed", ck.seed, "seed of the generated frames")
      ->type_name("N");
  add_pin_dir(check, check_pin_dir);
  check->footer(
      "The frames run through BPF_PROG_TEST_RUN with the live keys and "
      "configuration, so the live counters count them too. Exit code 0 when "
      "the kernel and the model agree on every frame.\n\n"
      "Examples:\n"
      "  dtls-cookie check\n"
      "      1000 ClientHellos and other frames; mismatches shown in hex\n");

  attach_cli rn;
  std::string metrics;
  bool skip_check = false;
  CLI::App* run_cmd = app.add_subcommand(
      "run",
      "foreground daemon: attach or adopt, check, rotate keys on a "
      "schedule, serve metrics; detach on SIGTERM");
  run_cmd
      ->add_option("--iface", rn.ifaces,
                   "interface(s); repeat or separate with commas")
      ->required()
      ->delimiter(',')
      ->type_name("IF[,IF...]")
      ->default_str("");
  add_attach_options(run_cmd, rn);
  run_cmd
      ->add_option("--rotate-every", rn.interval,
                   "seconds between key rotations (fleet keys: the epoch "
                   "length); a cookie then lives 1 to 2 intervals, longer "
                   "than a client's retransmissions of its second "
                   "ClientHello, short enough to bound replay")
      ->check(CLI::Range(1, 86400).description(""))
      ->type_name("SECONDS")
      ->group("Keys");
  run_cmd
      ->add_option("--metrics", metrics,
                   "serve Prometheus metrics on GET /metrics (a bare PORT "
                   "binds 127.0.0.1)")
      ->type_name("ADDR:PORT");
  run_cmd->add_flag("--skip-check", skip_check,
                    "start without the self-check (not for production)");
  run_cmd->footer(
      "SIGTERM or SIGINT detaches and unpins; SIGHUP re-reads the secret "
      "file. After a crash or SIGKILL the next run adopts the pinned instance "
      "with its keys and counters.\n\n"
      "Examples:\n"
      "  dtls-cookie run --iface eth0 --port 4433 --metrics 9434\n"
      "      attach, rotate every 60 s, metrics on 127.0.0.1:9434\n"
      "  dtls-cookie run --iface eth0,eth1 --port 4433 --secret-file "
      "/etc/dtls-cookie/secret --rotate-every 300\n"
      "      two interfaces with fleet keys of 5-minute epochs\n");

  app.footer(
      "Log levels (stderr): error = the command fails; warn = degraded but "
      "continuing; info = what was attached where, each rotation; debug "
      "(-v) = details and libbpf's messages.\n\n"
      "Examples:\n"
      "  dtls-cookie attach --iface eth0 --port 4433\n"
      "      answer ClientHellos to UDP 4433 on eth0\n"
      "  dtls-cookie status\n"
      "      what is attached where, settings and key ages\n"
      "  dtls-cookie rotate\n"
      "      a new current key; cookies of the old one still verify\n"
      "  dtls-cookie stats --watch 1\n"
      "      counters and rates every second until Ctrl-C\n"
      "  dtls-cookie detach --iface eth0\n"
      "      take it off eth0 (and unpin it with the last interface)\n"
      "Each subcommand has its own --help.\n");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  setup_logging(verbose);
  try {
    if (*attach) return cmd_attach(at.resolve());
    if (*detach) return cmd_detach(detach_iface, detach_pin_dir);
    if (*rotate) {
      key_options k;
      if (!rotate_secret.empty()) k.secret_file = rotate_secret;
      k.interval = std::chrono::seconds(rotate_interval);
      return cmd_rotate(rotate_pin_dir, k);
    }
    if (*status) return cmd_status(status_pin_dir, status_json);
    if (*stats)
      return cmd_stats(
          stats_pin_dir, stats_json,
          watch_opt->count() ? std::optional(stats_watch) : std::nullopt,
          stats_count ? std::optional(stats_count) : std::nullopt);
    if (*check) {
      ck.pin_dir = check_pin_dir;
      return cmd_check(ck);
    }
    if (*run_cmd) {
      run_options r;
      r.attach = rn.resolve();
      if (!metrics.empty()) r.metrics = metrics;
      r.skip_check = skip_check;
      return cmd_run(r);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dtls-cookie: %s\n", e.what());
    return 1;
  }
  return 2;
}

}  // namespace
}  // namespace dtls_cookie::agent

int main(int argc, char** argv) { return dtls_cookie::agent::run(argc, argv); }
