// The agent's subcommands, one function each, called by main() after the
// command line is parsed. Each returns the process exit code and throws
// dtls_cookie::error for failures main() reports.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dtls_cookie/responder.hpp"

namespace dtls_cookie::agent {

struct key_options {
  std::optional<std::filesystem::path> secret_file;  // fleet keys if set
  std::chrono::seconds interval{60};  // rotation / fleet epoch length
};

struct attach_options {
  std::vector<std::string> ifaces;
  responder_options responder;  // ports, policies, local addresses
  attach_mode mode = attach_mode::native;
  bool replace = false;
  std::filesystem::path pin_dir;
  key_options keys;
};

int cmd_attach(const attach_options& o);
int cmd_detach(const std::string& iface, const std::filesystem::path& pin_dir);
int cmd_rotate(const std::filesystem::path& pin_dir, const key_options& keys);
int cmd_status(const std::filesystem::path& pin_dir, bool json);
int cmd_stats(const std::filesystem::path& pin_dir, bool json,
              std::optional<double> watch_seconds,
              std::optional<unsigned> count);

struct check_options {
  std::filesystem::path pin_dir;
  unsigned count = 1000;
  uint32_t seed = 1;
};
// Returns 0 when the kernel agrees with the reference on every frame.
int cmd_check(const check_options& o);

struct run_options {
  attach_options attach;
  std::optional<std::string> metrics;  // ADDR:PORT or PORT
  bool skip_check = false;
};
int cmd_run(const run_options& o);

}  // namespace dtls_cookie::agent
