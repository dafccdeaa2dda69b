// The agent's command line: every subcommand and option of dtls-cookie,
// built in one place so that the program, its manual page and the fuzzer
// see the same grammar. Parsing never runs a command; resolve() turns what
// was parsed into the options structs of commands.hpp.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "commands.hpp"

namespace dtls_cookie::agent {

struct detach_command {
  std::string iface;
  std::filesystem::path pin_dir;
};
struct rotate_command {
  std::filesystem::path pin_dir;
  key_options keys;
};
struct status_command {
  std::filesystem::path pin_dir;
  bool json = false;
};
struct stats_command {
  std::filesystem::path pin_dir;
  bool json = false;
  std::optional<double> watch_seconds;
  std::optional<unsigned> count;
};

// One alternative per subcommand; attach_options is attach's.
using command =
    std::variant<attach_options, detach_command, rotate_command, status_command,
                 stats_command, check_options, run_options>;

class command_line {
 public:
  command_line();
  ~command_line();
  command_line(const command_line&) = delete;
  command_line& operator=(const command_line&) = delete;

  // The CLI11 application, for help, exit() and the manual page.
  CLI::App& app() noexcept { return *app_; }

  // Throw CLI::ParseError (among them CLI::CallForHelp and
  // CLI::CallForVersion) as CLI11 does; app().exit() reports them. args
  // excludes the program name.
  void parse(int argc, const char* const* argv);
  void parse(std::vector<std::string> args);

  // After a successful parse: -v, and the subcommand given with its
  // options resolved. resolve() throws dtls_cookie::error for a value
  // CLI11 accepted but the agent cannot use.
  bool verbose() const;
  command resolve() const;

 private:
  struct bound;  // the variables CLI11 writes into; stable addresses
  std::unique_ptr<bound> b_;
  std::unique_ptr<CLI::App> app_;
};

}  // namespace dtls_cookie::agent
