// What the two example DTLS servers share: their command line, the source
// of the cookie keys, socket addresses and the UDP sockets they listen on.
// Kept small so a reader can lift either server out with this file.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "dtls_cookie/keys.hpp"

namespace examples {

struct server_options {
  std::string listen = "127.0.0.1:4433";
  std::filesystem::path cert;
  std::filesystem::path key;
  // Key source: fleet keys derived from a secret file, or the live keys
  // of the XDP responder pinned in a bpffs directory on this host.
  std::filesystem::path secret_file;
  std::filesystem::path pin_dir;
  std::chrono::seconds key_interval{3600};
  uint64_t max_clients = 0;  // 0: serve forever
  std::chrono::seconds idle_timeout{30};
};

// Parses the command line; prints help or a usage error and exits the
// process for --help or bad options.
server_options parse_options(int argc, char** argv, const char* description);

// The key source the options name. Throws dtls_cookie::error when none is
// named or it cannot be used: an unreadable secret file; a --pin-dir off
// a bpffs, without a key map, with something else pinned as the key map,
// or whose key map holds no key set. The responder's keys log each time
// they become unusable and usable again.
std::unique_ptr<dtls_cookie::key_source> make_key_source(
    const server_options& options);

struct socket_address {
  sockaddr_storage storage{};
  socklen_t len = 0;

  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  int family() const { return storage.ss_family; }
};

// "127.0.0.1:4433" or "[::1]:4433" (numeric only). Throws
// dtls_cookie::error on anything else.
socket_address parse_address(const std::string& text);
// The same notation back, for logs.
std::string to_string(const socket_address& address);
bool same_address(const socket_address& a, const socket_address& b);
// The address a socket is bound to (the real port after binding port 0).
socket_address local_address(int fd);

// Throws dtls_cookie::error naming the file and errno's reason when a
// certificate or key cannot be opened, before a TLS library reports a
// vaguer parse error.
void require_readable(const std::filesystem::path& path, const char* what);

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

enum class port_use {
  // Fails with "address already in use" if any socket holds the port.
  exclusive,
  // Joins a port whose owner called allow_connected_sockets().
  shared,
};

// A UDP socket bound to the address. Throws dtls_cookie::error naming the
// address and the reason (e.g. the port is in use).
unique_fd bind_udp(const socket_address& local, port_use use);

// Lets sockets connected to single clients bind the same port later. Set
// after an exclusive bind, so a second server on the port is still refused.
void allow_connected_sockets(int fd);

// One log line on stderr, prefixed with the program's name.
void log(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace examples
