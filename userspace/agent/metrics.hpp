// The daemon's Prometheus endpoint: the counters, keys and attachments in
// the text exposition format, served over plain HTTP/1.0 by a listener
// that lives in the daemon's own poll loop (no thread, never blocks).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dtls_cookie/keys.hpp"
#include "dtls_cookie/responder.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {

// What one scrape shows.
struct metrics_snapshot {
  counters values{};
  key_set keys;
  std::vector<link_info> links;
  uint64_t rotations = 0;  // key sets this daemon published since start
  std::chrono::system_clock::time_point now;
};

// Prometheus text format 0.0.4, named by Prometheus's conventions (one
// dtls_cookie_ namespace, base units in the name, _total on counters,
// labels for partitions that sum): build info; the counters as
// dtls_cookie_xdp_actions_total{action} and dtls_cookie_packets_total
// {reason}; key generation and age (seconds) labelled key="current" or
// "previous"; rotations; one dtls_cookie_interface_attached per interface.
std::string render_metrics(const metrics_snapshot& s);

// "PORT" (on 127.0.0.1), "ADDR:PORT" or "[ADDR6]:PORT", numeric only.
// Throws dtls_cookie::error naming the text.
sockaddr_storage parse_listen_address(const std::string& text);

// A non-blocking HTTP/1.0 listener. The caller polls the fds it adds and
// hands the results back; each request is read, answered and closed
// without ever waiting on a client, and a client that stalls is dropped
// after a few seconds.
class metrics_server {
 public:
  // Binds and listens; throws dtls_cookie::error naming the address.
  explicit metrics_server(const std::string& address);

  // The address actually bound, e.g. "127.0.0.1:9464".
  std::string local_address() const;

  // Appends the listening socket and every open connection.
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // Serves whatever poll reported on this server's fds (others are
  // ignored) and drops connections past their deadline. render is called
  // once per GET /metrics; an exception from it becomes a 500.
  void on_poll(std::span<const pollfd> fds,
               const std::function<std::string()>& render);
  // Milliseconds until the next connection deadline; -1 when none is open.
  int poll_timeout_ms() const;

 private:
  struct connection {
    unique_fd fd;
    std::string in;
    std::string out;
    size_t sent = 0;
    std::chrono::steady_clock::time_point deadline;
  };

  void accept_all();
  // False when the connection is finished and can be closed.
  bool on_readable(connection& c, const std::function<std::string()>& render);
  bool on_writable(connection& c);

  unique_fd listen_;
  std::vector<connection> connections_;
};

// The response to one complete HTTP request head; exposed for tests.
std::string http_response(std::string_view request_head,
                          const std::function<std::string()>& render);

}  // namespace dtls_cookie::agent
