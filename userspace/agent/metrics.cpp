// Prometheus text for the responder's counters and keys, and the small
// HTTP/1.0 listener that serves it from the daemon's poll loop.
#include "metrics.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/model.hpp"
#include "dtls_cookie/version.hpp"

namespace dtls_cookie::agent {
namespace {

// A scrape request head is a few hundred bytes; anything much larger is
// not a scraper.
constexpr size_t kMaxRequestHead = 8192;
// One slow or idle client must not hold a connection slot for long.
constexpr std::chrono::seconds kConnectionTimeout{5};
// Scrapers open one connection at a time; this bounds fds held.
constexpr size_t kMaxConnections = 32;

// Label values: backslash, double quote and newline are escaped.
std::string label_value(std::string_view v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

void header(std::string& out, const std::string& name, const char* type,
            const char* help) {
  out += "# HELP " + name + " " + help + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string errno_text(int err) { return std::strerror(err); }

std::string address_text(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
}

std::string status_response(int code, const char* reason,
                            std::string_view content_type,
                            std::string_view body, bool head_only,
                            std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + reason +
                    "\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n" + std::string(extra_headers) +
                    "Connection: close\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

std::string plain(int code, const char* reason, std::string_view body,
                  bool head_only = false, std::string_view extra = {}) {
  return status_response(code, reason, "text/plain; charset=utf-8", body,
                         head_only, extra);
}

}  // namespace

std::string render_metrics(const metrics_snapshot& s) {
  std::string out;
  out.reserve(4096);
  header(out, "dtls_cookie_build_info", "gauge",
         "The version of the dtls-cookie agent serving these metrics, as a "
         "label; always 1.");
  out += "dtls_cookie_build_info{version=\"" DTLS_COOKIE_VERSION "\"} 1\n";

  // Every packet bumps one action and one reason, so each family sums to
  // the packets the program saw; the reasons' meanings are listed in
  // dtls-cookie(8) and the README.
  header(out, "dtls_cookie_xdp_actions_total", "counter",
         "Packets the XDP responder ended with each XDP action (tx: a "
         "HelloVerifyRequest sent back; aborted: a bug), summed over CPUs.");
  for (uint32_t i = DC_CNT_XDP_PASS; i <= DC_CNT_XDP_ABORTED; ++i) {
    std::string_view action = model::counter_name(dc_counter(i));
    action.remove_prefix(4);  // "xdp_"
    out += "dtls_cookie_xdp_actions_total{action=\"" + std::string(action) +
           "\"} " + std::to_string(s.values[i]) + "\n";
  }
  header(out, "dtls_cookie_packets_total", "counter",
         "Packets the XDP responder handled, by the reason for its action, "
         "summed over CPUs.");
  for (uint32_t i = DC_CNT_XDP_ABORTED + 1; i < DC_CNT_MAX; ++i)
    out += std::string("dtls_cookie_packets_total{reason=\"") +
           model::counter_name(dc_counter(i)) + "\"} " +
           std::to_string(s.values[i]) + "\n";

  const std::pair<const char*, const std::optional<key>*> keys[] = {
      {"current", &s.keys.current()}, {"previous", &s.keys.previous()}};
  header(out, "dtls_cookie_key_generation", "gauge",
         "Generation of the cookie key; absent when there is no such key.");
  for (const auto& [label, k] : keys)
    if (*k)
      out += std::string("dtls_cookie_key_generation{key=\"") + label + "\"} " +
             std::to_string((*k)->generation) + "\n";
  header(out, "dtls_cookie_key_age_seconds", "gauge",
         "Seconds since the cookie key became current.");
  const double now_s =
      std::chrono::duration<double>(s.now.time_since_epoch()).count();
  for (const auto& [label, k] : keys)
    if (*k)
      out += std::string("dtls_cookie_key_age_seconds{key=\"") + label +
             "\"} " +
             format_double(now_s - double((*k)->created_unix_ns) / 1e9) + "\n";

  header(out, "dtls_cookie_key_rotations_total", "counter",
         "Key sets this daemon published since it started.");
  out +=
      "dtls_cookie_key_rotations_total " + std::to_string(s.rotations) + "\n";

  header(out, "dtls_cookie_interface_attached", "gauge",
         "1 for each interface the responder is attached to, with its XDP "
         "mode.");
  for (const auto& l : s.links)
    out += "dtls_cookie_interface_attached{interface=\"" +
           label_value(l.ifname) + "\",ifindex=\"" + std::to_string(l.ifindex) +
           "\",mode=\"" + mode_name(l.mode) + "\"} 1\n";
  return out;
}

sockaddr_storage parse_listen_address(const std::string& text) {
  std::string host = "127.0.0.1";
  std::string port = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
  }
  const auto bad = [&](const std::string& why) {
    return error("metrics address '" + text + "': " + why +
                 " (expected PORT, ADDR:PORT or [ADDR6]:PORT)");
  };
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char ch) { return ch >= '0' && ch <= '9'; }))
    throw bad("port is not a number");
  const unsigned long p = std::stoul(port);
  if (p > 65535) throw bad("port is out of range");

  sockaddr_storage ss{};
  auto& v4 = reinterpret_cast<sockaddr_in&>(ss);
  auto& v6 = reinterpret_cast<sockaddr_in6&>(ss);
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(uint16_t(p));
  } else if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(uint16_t(p));
  } else {
    throw bad("'" + host + "' is not a numeric IPv4 or IPv6 address");
  }
  return ss;
}

std::string http_response(std::string_view head,
                          const std::function<std::string()>& render) {
  const size_t eol = head.find_first_of("\r\n");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 =
      sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos ||
      line.substr(sp2 + 1).substr(0, 5) != "HTTP/")
    return plain(400, "Bad Request", "bad request line\n");
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));

  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only)
    return plain(405, "Method Not Allowed", "only GET and HEAD\n", false,
                 "Allow: GET, HEAD\r\n");
  if (target == "/")
    return plain(200, "OK", "dtls-cookie: metrics are at /metrics\n",
                 head_only);
  if (target != "/metrics")
    return plain(404, "Not Found", "no such page; try /metrics\n", head_only);
  std::string body;
  try {
    body = render();
  } catch (const std::exception& e) {
    spdlog::error("metrics: {}", e.what());
    return plain(500, "Internal Server Error", std::string(e.what()) + "\n",
                 head_only);
  }
  return status_response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                         body, head_only);
}

metrics_server::metrics_server(const std::string& address) {
  const sockaddr_storage ss = parse_listen_address(address);
  const socklen_t len =
      ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  listen_ = unique_fd(
      socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_) throw error("metrics: socket: " + errno_text(errno));
  // A restarted daemon must bind again at once, despite TIME_WAIT
  // connections of the previous one.
  const int one = 1;
  setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0)
    throw error("metrics: cannot bind TCP " + address_text(ss) + ": " +
                errno_text(errno));
  if (listen(listen_.get(), 16) != 0)
    throw error("metrics: listen on " + address_text(ss) + ": " +
                errno_text(errno));
}

std::string metrics_server::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return "?";
  return address_text(ss);
}

void metrics_server::add_poll_fds(std::vector<pollfd>& fds) const {
  fds.push_back({listen_.get(), POLLIN, 0});
  for (const auto& c : connections_)
    fds.push_back(
        {c.fd.get(), short(c.out.empty() ? POLLIN : POLLOUT), short(0)});
}

int metrics_server::poll_timeout_ms() const {
  if (connections_.empty()) return -1;
  auto first = connections_.front().deadline;
  for (const auto& c : connections_) first = std::min(first, c.deadline);
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(
      first - std::chrono::steady_clock::now());
  return int(std::max<int64_t>(0, left.count()));
}

void metrics_server::on_poll(std::span<const pollfd> fds,
                             const std::function<std::string()>& render) {
  const auto now = std::chrono::steady_clock::now();
  bool listener_ready = false;
  std::vector<int> finished;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == listen_.get()) {
      listener_ready = true;
      continue;
    }
    const auto it =
        std::find_if(connections_.begin(), connections_.end(),
                     [&](const connection& c) { return c.fd.get() == p.fd; });
    if (it == connections_.end()) continue;
    bool keep = true;
    if (p.revents & POLLIN)
      keep = on_readable(*it, render);
    else if (p.revents & POLLOUT)
      keep = on_writable(*it);
    else if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
      keep = false;
    if (!keep) finished.push_back(p.fd);
  }
  std::erase_if(connections_, [&](const connection& c) {
    if (std::find(finished.begin(), finished.end(), c.fd.get()) !=
        finished.end())
      return true;
    if (c.deadline <= now) {
      spdlog::debug("metrics: dropping a client that took over {} s",
                    kConnectionTimeout.count());
      return true;
    }
    return false;
  });
  if (listener_ready) accept_all();
}

void metrics_server::accept_all() {
  for (;;) {
    unique_fd fd(
        accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
          errno != ECONNABORTED)
        spdlog::warn("metrics: accept: {}", errno_text(errno));
      return;
    }
    if (connections_.size() >= kMaxConnections) {
      spdlog::debug("metrics: {} connections open; refusing one more",
                    connections_.size());
      continue;  // closed by unique_fd
    }
    connection c;
    c.fd = std::move(fd);
    c.deadline = std::chrono::steady_clock::now() + kConnectionTimeout;
    connections_.push_back(std::move(c));
  }
}

bool metrics_server::on_readable(connection& c,
                                 const std::function<std::string()>& render) {
  char buf[2048];
  for (;;) {
    const ssize_t n = recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return false;  // closed before a whole request came
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    c.in.append(buf, size_t(n));
    if (c.in.size() > kMaxRequestHead) break;
  }
  size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) end = c.in.find("\n\n");
  if (end == std::string::npos) {
    if (c.in.size() <= kMaxRequestHead) return true;  // wait for the rest
    c.out = plain(431, "Request Header Fields Too Large", "too large\n");
  } else {
    c.out = http_response(std::string_view(c.in).substr(0, end), render);
  }
  return on_writable(c);
}

bool metrics_server::on_writable(connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd.get(), c.out.data() + c.sent,
                           c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    c.sent += size_t(n);
  }
  // HTTP/1.0: the end of the body is the end of the connection.
  shutdown(c.fd.get(), SHUT_WR);
  return false;
}

}  // namespace dtls_cookie::agent
