// The agent's command line without running anything: options and a --config
// file resolve to the settings the commands take, and bad values or keys are
// refused with CLI11's errors.
#include "cli.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "dtls_cookie/error.hpp"

namespace dtls_cookie::agent {
namespace {

// A config file that removes itself.
class config_file {
 public:
  explicit config_file(const std::string& text) {
    char tmpl[] = "/tmp/dtls-cookie-cli-test-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    path_ = tmpl;
    std::ofstream(path_) << text;
  }
  ~config_file() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

command parse(std::vector<std::string> args) {
  command_line cli;
  cli.parse(std::move(args));
  return cli.resolve();
}

TEST(Cli, AttachOptionsResolve) {
  const command c =
      parse({"attach", "--iface", "eth0,eth1", "--port", "4433,5684",
             "--dtls13", "answer", "--server-version", "1.2", "--local-addr",
             "192.0.2.1", "--mode", "skb"});
  const auto& o = std::get<attach_options>(c);
  EXPECT_EQ(o.ifaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(o.responder.ports, (std::vector<uint16_t>{4433, 5684}));
  EXPECT_EQ(o.responder.dtls13, DC_POLICY_ANSWER);
  EXPECT_EQ(o.responder.server_version, 0xfefd);  // DTLS 1.2 on the wire
  ASSERT_EQ(o.responder.local_addrs.size(), 1u);
  const std::array<uint8_t, 16> mapped = {0, 0, 0,    0,    0,   0, 0, 0,
                                          0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(o.responder.local_addrs[0], mapped);
  EXPECT_EQ(o.mode, attach_mode::generic);
  EXPECT_EQ(o.pin_dir, "/sys/fs/bpf/dtls-cookie");
}

TEST(Cli, ConfigFileFillsRequiredOptionsAndCommandLineWins) {
  const config_file f(
      "verbose = true\n"
      "[run]\n"
      "iface = \"eth0\"\n"
      "port = [4433, 5684]\n"
      "rotate-every = 300\n"
      "metrics = \"9434\"\n");
  command_line cli;
  cli.parse({"--config", f.path(), "run", "--rotate-every", "120"});
  EXPECT_TRUE(cli.verbose());
  const auto r = std::get<run_options>(cli.resolve());
  EXPECT_EQ(r.attach.ifaces, std::vector<std::string>{"eth0"});
  EXPECT_EQ(r.attach.responder.ports, (std::vector<uint16_t>{4433, 5684}));
  EXPECT_EQ(r.attach.keys.interval, std::chrono::seconds(120));
  EXPECT_EQ(r.metrics, "9434");
}

TEST(Cli, ConfigFileUnknownKeyIsAnError) {
  const config_file f("[run]\niface = \"eth0\"\nport = 4433\nprot = 1\n");
  command_line cli;
  EXPECT_THROW(cli.parse({"--config", f.path(), "run"}), CLI::ConfigError);
}

TEST(Cli, ConfigFileBadValueIsValidated) {
  const config_file f("[attach]\niface = \"eth0\"\nport = 70000\n");
  command_line cli;
  EXPECT_THROW(cli.parse({"--config", f.path(), "attach"}),
               CLI::ValidationError);
}

TEST(Cli, MissingConfigFileIsAnError) {
  command_line cli;
  EXPECT_THROW(
      cli.parse({"--config", "/nonexistent/dtls-cookie.conf", "status"}),
      CLI::FileError);
}

TEST(Cli, RequiredOptionsAndRanges) {
  EXPECT_THROW(parse({"attach", "--iface", "eth0"}), CLI::RequiredError);
  EXPECT_THROW(parse({"attach", "--iface", "eth0", "--port", "0"}),
               CLI::ValidationError);
  EXPECT_THROW(parse({"attach", "--iface", "eth0", "--port", "4433",
                      "--local-addr", "300.1.1.1"}),
               CLI::ValidationError);
  EXPECT_THROW(parse({"stats", "--count", "3"}), CLI::RequiresError);
  EXPECT_THROW(parse({}), CLI::RequiredError);
}

TEST(Cli, OtherSubcommandsResolve) {
  const auto d = std::get<detach_command>(
      parse({"detach", "--iface", "eth0", "--pin-dir", "/sys/fs/bpf/x/"}));
  EXPECT_EQ(d.iface, "eth0");
  EXPECT_EQ(d.pin_dir, "/sys/fs/bpf/x");  // normalised, no trailing '/'
  const auto s = std::get<stats_command>(
      parse({"stats", "--watch", "0.5", "--count", "4", "--json"}));
  EXPECT_EQ(s.watch_seconds, 0.5);
  EXPECT_EQ(s.count, 4u);
  EXPECT_TRUE(s.json);
  const auto r = std::get<rotate_command>(
      parse({"rotate", "--secret-file", "/etc/s", "--key-interval", "30"}));
  EXPECT_EQ(r.keys.secret_file, std::filesystem::path("/etc/s"));
  EXPECT_EQ(r.keys.interval, std::chrono::seconds(30));
}

}  // namespace
}  // namespace dtls_cookie::agent
