// The agent's command line, declared in cli.hpp: the CLI11 application with
// every subcommand, its option text and validation, and the step from the
// parsed strings to the options the commands take.
#include "cli.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/version.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {
namespace {

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
  bool multiprog = false;
  std::string established = "pass", fragmented = "pass", dtls13 = "pass",
              malformed = "drop", no_keys = "pass", server_version = "1.0";
  std::vector<std::string> local_addrs;
  uint32_t reply_rate = DC_REPLY_RATE_DEFAULT;
  uint32_t reply_burst = DC_REPLY_BURST_DEFAULT;
  unsigned reply_prefix4 = DC_REPLY_PREFIX4_DEFAULT;
  unsigned reply_prefix6 = DC_REPLY_PREFIX6_DEFAULT;
  uint32_t reply_table_size = DC_REPLY_TABLE_DEFAULT;

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

// A whole number from lo to hi; CLI11 puts the option's name in front.
CLI::Validator whole_number(uint64_t lo, uint64_t hi,
                            const std::string& note = "") {
  return CLI::Validator(
      [=](std::string& s) {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
          return "'" + s + "' is not a whole number (" + std::to_string(lo) +
                 "-" + std::to_string(hi) + note + ")";
        // Eleven digits are out of range whatever they say.
        const uint64_t v = s.size() > 10 ? hi + 1 : std::stoull(s);
        if (v < lo || v > hi)
          return s + " is out of range (" + std::to_string(lo) + "-" +
                 std::to_string(hi) + note + ")";
        return std::string();
      },
      "");
}

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
  o.responder.reply_rate = reply_rate;
  o.responder.reply_burst = reply_burst;
  o.responder.reply_prefix4 = reply_prefix4;
  o.responder.reply_prefix6 = reply_prefix6;
  o.responder.reply_table_size = reply_table_size;
  o.mode = mode == "skb" ? attach_mode::generic : attach_mode::native;
  o.replace = replace;
  o.multiprog = multiprog;
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
                "interface (through netlink) instead of refusing; with "
                "--multiprog only one that is not in libxdp's dispatcher");
  cmd->add_flag("--multiprog", a.multiprog,
                "run beside other XDP programs in libxdp's dispatcher (as "
                "xdp-loader and xdp-filter do; made when the interface has "
                "none), at priority 20, going on to the next program on "
                "XDP_PASS; needs a kernel that loads freplace programs");
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

  const char* limit =
      "Reply rate limit (HelloVerifyRequests to one destination prefix, so "
      "that spoofed ClientHellos cannot aim a stream of them at a victim; "
      "over it a ClientHello is dropped and counted as rate_limited)";
  cmd->add_option("--reply-rate", a.reply_rate,
                  "replies per second to one prefix; 0 turns the limit off")
      ->check(whole_number(0, DC_REPLY_RATE_MAX, "; 0 turns the limit off"))
      ->type_name("N")
      ->group(limit);
  cmd->add_option("--reply-burst", a.reply_burst,
                  "replies one prefix may get at once, from a full bucket")
      ->check(whole_number(1, DC_REPLY_BURST_MAX))
      ->type_name("N")
      ->group(limit);
  cmd->add_option("--reply-prefix4", a.reply_prefix4,
                  "leading bits of an IPv4 destination that share a bucket")
      ->check(whole_number(1, 32))
      ->type_name("LEN")
      ->group(limit);
  cmd->add_option("--reply-prefix6", a.reply_prefix6,
                  "leading bits of an IPv6 destination that share a bucket")
      ->check(whole_number(1, 128))
      ->type_name("LEN")
      ->group(limit);
  cmd->add_option("--reply-table-size", a.reply_table_size,
                  "buckets kept; the least recently used one goes for a new "
                  "prefix, and comes back full")
      ->check(whole_number(1, DC_REPLY_TABLE_MAX))
      ->type_name("N")
      ->group(limit);
}

}  // namespace

struct command_line::bound {
  bool verbose = false;
  attach_cli at;
  std::string detach_iface, detach_pin_dir = kDefaultPinDir;
  std::string rotate_pin_dir = kDefaultPinDir, rotate_secret;
  int rotate_interval = 60;
  std::string status_pin_dir = kDefaultPinDir;
  bool status_json = false;
  std::string stats_pin_dir = kDefaultPinDir;
  bool stats_json = false;
  double stats_watch = 0;
  unsigned stats_count = 0;
  CLI::Option* watch_opt = nullptr;
  check_options ck;
  std::string check_pin_dir = kDefaultPinDir;
  attach_cli rn;
  std::string metrics;
  bool skip_check = false;
  CLI::App* attach = nullptr;
  CLI::App* detach = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* status = nullptr;
  CLI::App* stats = nullptr;
  CLI::App* check = nullptr;
  CLI::App* run = nullptr;
};

command_line::command_line()
    : b_(std::make_unique<bound>()),
      app_(std::make_unique<CLI::App>(
          "dtls-cookie: answers DTLS ClientHellos without a valid cookie with "
          "a HelloVerifyRequest in XDP, before they reach the server, and "
          "manages that responder: its interfaces, keys, counters and "
          "self-check.",
          "dtls-cookie")) {
  bound& b = *b_;
  app_->set_version_flag("--version",
                         std::string("dtls-cookie ") + DTLS_COOKIE_VERSION);
  app_->add_flag("-v,--verbose", b.verbose,
                 "debug logs, with libbpf's messages (the verifier's log)");
  // A file for what a unit file or a fleet's configuration management
  // would otherwise repeat on every command line.
  app_->set_config("--config", "",
                   "read options from FILE: TOML, `key = value` lines, the "
                   "options of a subcommand under its [name] table; options "
                   "on the command line win")
      ->type_name("FILE");
  // A misspelt key must not be dropped silently.
  app_->allow_config_extras(CLI::config_extras_mode::error);
  app_->require_subcommand(1);
  app_->fallthrough();
  app_->option_defaults()->always_capture_default();
  app_->get_formatter()->column_width(30);

  b.attach = app_->add_subcommand(
      "attach", "put the responder on interfaces (pinned; stays after exit)");
  b.attach
      ->add_option("--iface", b.at.ifaces,
                   "interface(s); repeat or separate with commas")
      ->required()
      ->delimiter(',')
      ->type_name("IF[,IF...]")
      ->default_str("");
  add_attach_options(b.attach, b.at);
  b.attach
      ->add_option("--key-interval", b.at.interval,
                   "fleet keys: epoch length in seconds (equal on every "
                   "host); a cookie then verifies for 1 to 2 epochs")
      ->check(CLI::Range(1, 86400).description(""))
      ->type_name("SECONDS")
      ->group("Keys");
  b.attach->footer(
      "A second attach with the same ports, policies and reply limit shares "
      "the pinned instance and its keys.\n\n"
      "Examples:\n"
      "  dtls-cookie attach --iface eth0 --port 4433\n"
      "      answer ClientHellos to UDP 4433 on eth0 in the driver, random "
      "keys\n"
      "  dtls-cookie attach --iface eth1 --port 4433 --mode skb\n"
      "      add eth1 on the generic path, sharing eth0's keys\n"
      "  dtls-cookie attach --iface eth0 --port 4433,5684 --secret-file "
      "/etc/dtls-cookie/secret\n"
      "      fleet keys: servers on other hosts accept the same cookies\n"
      "  dtls-cookie attach --iface eth0 --port 4433 --reply-rate 100 "
      "--reply-prefix6 56\n"
      "      at most 100 HelloVerifyRequests a second (burst 2000) to one "
      "IPv4 address or IPv6 /56\n"
      "  dtls-cookie attach --iface eth0 --port 4433 --multiprog\n"
      "      run beside xdp-filter or programs loaded with xdp-loader load; "
      "xdp-loader status lists them all\n");

  b.detach = app_->add_subcommand(
      "detach", "take the responder off an interface; the last one unpins it");
  b.detach->add_option("--iface", b.detach_iface, "interface")
      ->required()
      ->type_name("IF");
  add_pin_dir(b.detach, b.detach_pin_dir);
  b.detach->footer(
      "Examples:\n"
      "  dtls-cookie detach --iface eth0\n"
      "      remove the program from eth0 (only what dtls-cookie attached)\n");

  b.rotate = app_->add_subcommand(
      "rotate",
      "publish a new current key; the old one stays valid as "
      "previous");
  add_pin_dir(b.rotate, b.rotate_pin_dir);
  add_secret_file(b.rotate, b.rotate_secret);
  b.rotate
      ->add_option("--key-interval", b.rotate_interval,
                   "fleet keys: epoch length in seconds")
      ->check(CLI::Range(1, 86400).description(""))
      ->type_name("SECONDS")
      ->group("Keys");
  b.rotate->footer(
      "Examples:\n"
      "  dtls-cookie rotate\n"
      "      a random key with the next generation becomes current\n"
      "  dtls-cookie rotate --secret-file /etc/dtls-cookie/secret\n"
      "      publish the fleet's keys for the current epoch (from cron or a "
      "timer)\n");

  b.status = app_->add_subcommand(
      "status", "interfaces, ports, policies, local addresses and keys");
  b.status->add_flag("--json", b.status_json, "JSON instead of text");
  add_pin_dir(b.status, b.status_pin_dir);
  b.status->footer(
      "Examples:\n"
      "  dtls-cookie status --json | jq .keys\n"
      "      key generations and their ages, machine-readable\n");

  b.stats = app_->add_subcommand(
      "stats", "the counters, summed over CPUs; rates with --watch");
  b.stats->add_flag(
      "--json", b.stats_json,
      "JSON instead of a table (one object per line with --watch)");
  b.watch_opt =
      b.stats
          ->add_option("--watch", b.stats_watch,
                       "print a sample with per-second rates every SECONDS, "
                       "until interrupted")
          ->check(CLI::PositiveNumber.description(""))
          ->type_name("SECONDS")
          ->default_str("");
  b.stats
      ->add_option("--count", b.stats_count,
                   "stop after N samples (default: until SIGINT)")
      ->check(CLI::Range(1u, 1000000000u).description(""))
      ->needs(b.watch_opt)
      ->type_name("N")
      ->default_str("");
  add_pin_dir(b.stats, b.stats_pin_dir);
  b.stats->footer(
      "Examples:\n"
      "  dtls-cookie stats\n"
      "      every counter's total\n"
      "  dtls-cookie stats --watch 1 --count 10\n"
      "      ten samples a second apart with per-second rates\n");

  b.check = app_->add_subcommand(
      "check",
      "run the pinned program on generated frames and compare every verdict "
      "and byte with the reference model");
  b.check->add_option("--count", b.ck.count, "number of generated ClientHellos")
      ->check(CLI::Range(1u, 10000000u).description(""))
      ->type_name("N");
  b.check->add_option("--seed", b.ck.seed, "seed of the generated frames")
      ->type_name("N");
  add_pin_dir(b.check, b.check_pin_dir);
  b.check->footer(
      "The frames run through BPF_PROG_TEST_RUN with the live keys and "
      "configuration, so the live counters count them too. Exit code 0 when "
      "the kernel and the model agree on every frame.\n\n"
      "Examples:\n"
      "  dtls-cookie check\n"
      "      1000 ClientHellos and other frames; mismatches shown in hex\n");

  b.run = app_->add_subcommand(
      "run",
      "foreground daemon: attach or adopt, check, rotate keys on a "
      "schedule, serve metrics; detach on SIGTERM");
  b.run
      ->add_option("--iface", b.rn.ifaces,
                   "interface(s); repeat or separate with commas")
      ->required()
      ->delimiter(',')
      ->type_name("IF[,IF...]")
      ->default_str("");
  add_attach_options(b.run, b.rn);
  b.run
      ->add_option("--rotate-every", b.rn.interval,
                   "seconds between key rotations (fleet keys: the epoch "
                   "length); a cookie then lives 1 to 2 intervals, longer "
                   "than a client's retransmissions of its second "
                   "ClientHello, short enough to bound replay")
      ->check(CLI::Range(1, 86400).description(""))
      ->type_name("SECONDS")
      ->group("Keys");
  b.run
      ->add_option("--metrics", b.metrics,
                   "serve Prometheus metrics on GET /metrics (a bare PORT "
                   "binds 127.0.0.1)")
      ->type_name("ADDR:PORT");
  b.run->add_flag("--skip-check", b.skip_check,
                  "start without the self-check (not for production)");
  b.run->footer(
      "SIGTERM or SIGINT detaches and unpins; SIGHUP re-reads the secret "
      "file. After a crash or SIGKILL the next run adopts the pinned instance "
      "with its keys and counters.\n\n"
      "Examples:\n"
      "  dtls-cookie run --iface eth0 --port 4433 --metrics 9434\n"
      "      attach, rotate every 60 s, metrics on 127.0.0.1:9434\n"
      "  dtls-cookie run --iface eth0,eth1 --port 4433 --secret-file "
      "/etc/dtls-cookie/secret --rotate-every 300\n"
      "      two interfaces with fleet keys of 5-minute epochs\n");

  app_->footer(
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
}

command_line::~command_line() = default;

void command_line::parse(int argc, const char* const* argv) {
  app_->parse(argc, argv);
}

void command_line::parse(std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  app_->parse(args);
}

bool command_line::verbose() const { return b_->verbose; }

command command_line::resolve() const {
  const bound& b = *b_;
  if (*b.attach) return b.at.resolve();
  if (*b.detach) return detach_command{b.detach_iface, b.detach_pin_dir};
  if (*b.rotate) {
    rotate_command r{b.rotate_pin_dir, {}};
    if (!b.rotate_secret.empty()) r.keys.secret_file = b.rotate_secret;
    r.keys.interval = std::chrono::seconds(b.rotate_interval);
    return r;
  }
  if (*b.status) return status_command{b.status_pin_dir, b.status_json};
  if (*b.stats)
    return stats_command{
        b.stats_pin_dir, b.stats_json,
        b.watch_opt->count() ? std::optional(b.stats_watch) : std::nullopt,
        b.stats_count ? std::optional(b.stats_count) : std::nullopt};
  if (*b.check) {
    check_options ck = b.ck;
    ck.pin_dir = b.check_pin_dir;
    return ck;
  }
  if (*b.run) {
    run_options r;
    r.attach = b.rn.resolve();
    if (!b.metrics.empty()) r.metrics = b.metrics;
    r.skip_check = b.skip_check;
    return r;
  }
  // require_subcommand(1) makes this unreachable after a parse.
  throw error("no subcommand given; see dtls-cookie --help");
}

}  // namespace dtls_cookie::agent
