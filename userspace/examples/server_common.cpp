// Command line, key source and sockets of the example DTLS servers.
#include "server_common.hpp"

#include <netdb.h>
#include <netinet/in.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_keys.hpp"

namespace examples {
namespace {

std::string program_name = "dtls-cookie-server";

std::string errno_text(int err) { return std::strerror(err); }

// The responder's live keys, with a log line each time they become
// unusable (saying why: the agent stopped, something else was pinned, no
// key set) and usable again.
class logged_pinned_keys final : public dtls_cookie::key_source {
 public:
  explicit logged_pinned_keys(const std::filesystem::path& pin_dir)
      : source_(pin_dir) {}

  const std::string& problem() const { return source_.problem(); }

  dtls_cookie::key_set keys() override {
    dtls_cookie::key_set k = source_.keys();
    if (source_.problem() != reported_) {
      reported_ = source_.problem();
      if (reported_.empty())
        log("cookie keys readable again from %s",
            source_.path().string().c_str());
      else
        log("no cookie keys: %s", reported_.c_str());
    }
    return k;
  }

 private:
  dtls_cookie::pinned_key_source source_;
  std::string reported_;
};

}  // namespace

server_options parse_options(int argc, char** argv, const char* description) {
  if (argc > 0) program_name = std::filesystem::path(argv[0]).filename();

  server_options o;
  CLI::App app(description, program_name);
  app.get_formatter()->column_width(30);
  app.add_option("--listen", o.listen,
                 "UDP address to serve on, ADDR:PORT or [ADDR6]:PORT")
      ->capture_default_str();
  app.add_option("--cert", o.cert, "Server certificate chain (PEM)")
      ->required();
  app.add_option("--key", o.key, "Private key of the certificate (PEM)")
      ->required();

  auto* keys = app.add_option_group("Cookie keys");
  auto* secret =
      keys->add_option("--secret-file", o.secret_file,
                       "Fleet secret (16 bytes or more) to derive keys from");
  keys->add_option("--pin-dir", o.pin_dir,
                   "bpffs directory of the XDP responder on this host, whose "
                   "live keys to verify with (e.g. /sys/fs/bpf/dtls-cookie)")
      ->excludes(secret);
  int64_t interval = o.key_interval.count();
  keys->add_option("--key-interval", interval,
                   "Seconds each fleet key is current")
      ->check(CLI::Range(int64_t{1}, int64_t{366} * 86400))
      ->capture_default_str();

  app.add_option(
         "--max-clients", o.max_clients,
         "Exit after this many clients passed the cookie check (0: never)")
      ->capture_default_str();
  int64_t idle = o.idle_timeout.count();
  app.add_option("--idle-timeout", idle,
                 "Seconds without a record before a client is dropped")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}))
      ->capture_default_str();

  app.footer(
      "Examples:\n"
      "  " +
      program_name +
      " --cert c.pem --key k.pem --secret-file fleet.key\n"
      "      echo server on 127.0.0.1:4433 with fleet cookie keys\n"
      "  " +
      program_name +
      " --listen [::1]:5684 --cert c.pem --key k.pem \\\n"
      "      --secret-file fleet.key --max-clients 1\n"
      "      serve one client over IPv6, then exit\n"
      "  " +
      program_name +
      " --cert c.pem --key k.pem --pin-dir /sys/fs/bpf/dtls-cookie\n"
      "      verify cookies with the keys of the XDP responder on this "
      "host\n");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  o.key_interval = std::chrono::seconds(interval);
  o.idle_timeout = std::chrono::seconds(idle);
  return o;
}

std::unique_ptr<dtls_cookie::key_source> make_key_source(
    const server_options& options) {
  if (!options.secret_file.empty()) {
    return std::make_unique<dtls_cookie::fleet_key_source>(
        dtls_cookie::fleet_secret::from_file(options.secret_file),
        options.key_interval);
  }
  if (!options.pin_dir.empty()) {
    auto source = std::make_unique<logged_pinned_keys>(options.pin_dir);
    // A server that starts without keys could verify no cookie, and the
    // responder in front of it answers no ClientHello either.
    if (!source->problem().empty())
      throw dtls_cookie::error(
          source->problem() +
          ": the responder answers no ClientHello and no cookie could be "
          "verified; publish a key set (dtls-cookie rotate --pin-dir " +
          options.pin_dir.string() + ") and start the server again");
    return source;
  }
  throw dtls_cookie::error(
      "no cookie key source: give --secret-file FILE or --pin-dir DIR");
}

socket_address parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw dtls_cookie::error("bad address '" + text +
                             "': expected ADDR:PORT or [ADDR6]:PORT");
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);

  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0)
    throw dtls_cookie::error("bad address '" + text + "': " + gai_strerror(rc));
  socket_address a;
  std::memcpy(&a.storage, found->ai_addr, found->ai_addrlen);
  a.len = found->ai_addrlen;
  freeaddrinfo(found);
  return a;
}

std::string to_string(const socket_address& address) {
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (getnameinfo(address.get(), address.len, host, sizeof host, port,
                  sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "(unknown address)";
  if (address.family() == AF_INET6)
    return std::string("[") + host + "]:" + port;
  return std::string(host) + ":" + port;
}

bool same_address(const socket_address& a, const socket_address& b) {
  if (a.family() != b.family()) return false;
  if (a.family() == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a.storage);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.storage);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.family() == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a.storage);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b.storage);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  return false;
}

socket_address local_address(int fd) {
  socket_address a;
  a.len = sizeof a.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len) != 0)
    throw dtls_cookie::error("getsockname: " + errno_text(errno));
  return a;
}

void require_readable(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in || in.peek() == std::ifstream::traits_type::eof()) {
    const std::string reason = in ? "file is empty" : errno_text(errno);
    throw dtls_cookie::error(std::string("cannot read ") + what + " " +
                             path.string() + ": " + reason);
  }
}

unique_fd bind_udp(const socket_address& local, port_use use) {
  unique_fd fd(socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw dtls_cookie::error("socket: " + errno_text(errno));
  if (use == port_use::shared) allow_connected_sockets(fd.get());
  if (bind(fd.get(), local.get(), local.len) != 0)
    throw dtls_cookie::error("cannot bind UDP " + to_string(local) + ": " +
                             errno_text(errno));
  return fd;
}

void allow_connected_sockets(int fd) {
  // Linux checks SO_REUSEADDR of the sockets already bound when a new one
  // binds, so setting it after an exclusive bind is enough.
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    throw dtls_cookie::error("setsockopt(SO_REUSEADDR): " + errno_text(errno));
}

void log(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  std::fprintf(stderr, "%s: %s\n", program_name.c_str(), line);
}

}  // namespace examples
