// dtls-cookie, the agent: parses the command line (cli.hpp), sets up
// logging and runs one subcommand. Every failure a subcommand cannot handle
// ends here as one line on stderr and exit code 1; usage errors exit with 2.
#include <bpf/libbpf.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <variant>

#include "cli.hpp"
#include "commands.hpp"

namespace dtls_cookie::agent {
namespace {

// Whether stderr is a stream into the systemd journal (systemd sets
// JOURNAL_STREAM to its device and inode, see systemd.exec(5)); a child
// that inherited the variable but not the stream must not match.
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  struct stat st;
  if (!env || fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == st.st_dev && ino == st.st_ino;
}

// A "<N>" prefix (sd-daemon(3)): journald files the line under syslog
// priority N instead of under the unit's default, so `journalctl -p
// warning` finds the warnings.
class journal_priority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    int prio = 6;  // LOG_INFO
    if (msg.level >= spdlog::level::err)
      prio = 3;
    else if (msg.level == spdlog::level::warn)
      prio = 4;
    else if (msg.level <= spdlog::level::debug)
      prio = 7;
    const char text[] = {'<', char('0' + prio), '>'};
    dest.append(text, text + sizeof text);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<journal_priority>();
  }
};

// Log levels, the same in every subcommand, all on stderr:
//   error  the command fails (main prints the reason as "dtls-cookie: ...")
//   warn   degraded but continuing: an address left out of the program,
//          an interface kept in another mode than asked for
//   info   what was attached where, each key rotation, what was removed
//   debug  only with -v: our own details and libbpf's messages, among them
//          the verifier's log when a load fails
// Under systemd each line carries its priority for the journal, which adds
// the time and the unit itself.
void setup_logging(bool verbose, bool journal) {
  auto logger = spdlog::stderr_color_mt("dtls-cookie");
  if (journal) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<journal_priority>('*').set_pattern("%*%l: %v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%^%l%$: %v");
  }
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

// One call per subcommand; the variant holds which.
struct executor {
  int operator()(const attach_options& o) const { return cmd_attach(o); }
  int operator()(const detach_command& c) const {
    return cmd_detach(c.iface, c.pin_dir);
  }
  int operator()(const rotate_command& c) const {
    return cmd_rotate(c.pin_dir, c.keys);
  }
  int operator()(const status_command& c) const {
    return cmd_status(c.pin_dir, c.json);
  }
  int operator()(const stats_command& c) const {
    return cmd_stats(c.pin_dir, c.json, c.watch_seconds, c.count);
  }
  int operator()(const check_options& o) const { return cmd_check(o); }
  int operator()(const run_options& o) const { return cmd_run(o); }
};

int run(int argc, char** argv) {
  command_line cli;
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    // CLI11 says "INI was not able to parse run.bogus" for an unknown key.
    std::fprintf(stderr,
                 "dtls-cookie: --config: %s: each key must be an option of "
                 "dtls-cookie, or of a subcommand under its [name] table (see "
                 "dtls-cookie SUBCOMMAND --help)\n",
                 e.what());
    return 2;
  } catch (const CLI::ParseError& e) {
    const int code = cli.app().exit(e);
    return code == 0 ? 0 : 2;
  }

  const bool journal = stderr_is_journal();
  setup_logging(cli.verbose(), journal);
  try {
    return std::visit(executor{}, cli.resolve());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%sdtls-cookie: %s\n", journal ? "<3>" : "", e.what());
    return 1;
  }
}

}  // namespace
}  // namespace dtls_cookie::agent

int main(int argc, char** argv) { return dtls_cookie::agent::run(argc, argv); }
