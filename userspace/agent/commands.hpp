// The agent's subcommands, one function each, called by main() after the
// command line is parsed. Each returns the process exit code and throws
// dtls_cookie::error for failures main() reports.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/responder.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {

struct key_options {
  std::optional<std::filesystem::path> secret_file;  // fleet keys if set
  std::chrono::seconds interval{60};  // rotation / fleet epoch length
};

struct attach_options {
  std::vector<std::string> ifaces;
  // Ports, policies and the --local-addr addresses; the attached
  // interfaces' own addresses are added by attach_all().
  responder_options responder;
  attach_mode mode = attach_mode::native;
  // Through libxdp's dispatcher, beside other XDP programs.
  bool multiprog = false;
  bool replace = false;
  std::filesystem::path pin_dir;
  key_options keys;
};

// The fleet's key set for now from k.secret_file (which must be set);
// throws dtls_cookie::error naming the file when it cannot be used.
key_set fleet_keys_now(const key_options& k);
// The first key set of a new instance: random, or the fleet's set for
// now when a secret file is given.
key_set initial_keys(const key_options& k);
// The set a rotation publishes: a random key following live's current one
// (which becomes the previous), or the fleet's set for now.
key_set rotated_keys(const key_set& live, const key_options& k);

// Attach's work, shared with run. Reuses the instance pinned in
// o.pin_dir when its ports, policies and server version equal the
// requested ones (else throws, saying what differs), or creates it with
// initial_keys(); then attaches every interface of o.ifaces. With adopt,
// an interface this tool has already attached is taken as it is (a
// restarted run); without, it is an error. On failure, nothing this call
// made stays attached or pinned. Holds lock_pin_dir() while it works.
struct attach_result {
  instance inst;
  std::vector<link_info> links;  // one per interface of o.ifaces
  bool created = false;          // a new instance (else a reused one)
};
attach_result attach_all(const attach_options& o, bool adopt);

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
