// dtls-cookie-gnutls-server: a DTLS 1.2 echo server on GnuTLS that checks
// every first ClientHello with the project's cookies. Behind the XDP
// responder it sees only ClientHellos with a valid cookie; alone, it answers
// cookie-less ones with the same HelloVerifyRequest the kernel would send.
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <poll.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>

#include "dtls_cookie/cookie.hpp"
#include "server_common.hpp"

namespace dc = dtls_cookie;
using namespace examples;

namespace {

constexpr unsigned kRetransmitMs = 1000;
constexpr unsigned kHandshakeTimeoutMs = 10000;

// The client being served. All datagrams arrive on the one listening
// socket, as in GnuTLS's own examples: the transport functions below take
// only this peer's and drop the others', whose clients retransmit once the
// server is free. A connected socket per client would keep them queued,
// but this server serves one client at a time and gains nothing from it.
struct peer_transport {
  int fd = -1;
  socket_address peer;
  gnutls_session_t session = nullptr;
};

// gnutls_push_func and dtls_cookie::push_func have the same shape.
ssize_t push_to_peer(void* ptr, const void* data, size_t size) {
  auto* t = static_cast<peer_transport*>(ptr);
  return sendto(t->fd, data, size, 0, t->peer.get(), t->peer.len);
}

// Drops the datagram at the head of the queue unless it is the peer's;
// true when it is the peer's.
bool head_is_from_peer(peer_transport& t) {
  socket_address from;
  from.len = sizeof from.storage;
  char byte;
  if (recvfrom(t.fd, &byte, 1, MSG_PEEK,
               reinterpret_cast<sockaddr*>(&from.storage), &from.len) < 0)
    return false;
  if (same_address(from, t.peer)) return true;
  recv(t.fd, &byte, 1, 0);
  return false;
}

int wait_for_peer(gnutls_transport_ptr_t ptr, unsigned int ms) {
  auto* t = static_cast<peer_transport*>(ptr);
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    int wait = -1;
    if (ms != GNUTLS_INDEFINITE_TIMEOUT) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - clock::now());
      wait = int(std::max<int64_t>(left.count(), 0));
    }
    pollfd p{t->fd, POLLIN, 0};
    const int ready = poll(&p, 1, wait);
    if (ready <= 0) return ready;
    if (head_is_from_peer(*t)) return 1;
  }
}

ssize_t pull_from_peer(gnutls_transport_ptr_t ptr, void* data, size_t size) {
  auto* t = static_cast<peer_transport*>(ptr);
  if (!head_is_from_peer(*t)) {
    gnutls_transport_set_errno(t->session, EAGAIN);
    return -1;
  }
  return recv(t->fd, data, size, 0);
}

// Owners, so that a constructor that fails half way frees what it made.
using credentials_ptr =
    std::unique_ptr<gnutls_certificate_credentials_st,
                    decltype(&gnutls_certificate_free_credentials)>;
using priority_ptr =
    std::unique_ptr<gnutls_priority_st, decltype(&gnutls_priority_deinit)>;

struct tls_config {
  credentials_ptr credentials{nullptr, gnutls_certificate_free_credentials};
  priority_ptr priority{nullptr, gnutls_priority_deinit};

  tls_config(const server_options& o) {
    require_readable(o.cert, "certificate");
    require_readable(o.key, "private key");
    gnutls_certificate_credentials_t c = nullptr;
    check(gnutls_certificate_allocate_credentials(&c),
          "allocating credentials");
    credentials.reset(c);
    check(gnutls_certificate_set_x509_key_file(c, o.cert.c_str(), o.key.c_str(),
                                               GNUTLS_X509_FMT_PEM),
          ("loading certificate " + o.cert.string() + " with private key " +
           o.key.string())
              .c_str());
    gnutls_priority_t p = nullptr;
    check(gnutls_priority_init(&p, "NORMAL:-VERS-ALL:+VERS-DTLS1.2", nullptr),
          "setting priorities");
    priority.reset(p);
  }

  static void check(int rc, const char* what) {
    if (rc < 0) throw dc::error(std::string(what) + ": " + gnutls_strerror(rc));
  }
};

using session_ptr =
    std::unique_ptr<gnutls_session_int, decltype(&gnutls_deinit)>;

// Handshake with the peer whose ClientHello (still queued) carries a valid
// cookie, then echo its records until it closes or falls idle.
void serve_client(peer_transport& t, const dc::prestate& ps,
                  const tls_config& tls, const server_options& o) {
  gnutls_session_t raw;
  tls_config::check(gnutls_init(&raw, GNUTLS_SERVER | GNUTLS_DATAGRAM),
                    "gnutls_init");
  session_ptr session(raw, &gnutls_deinit);
  t.session = raw;
  gnutls_priority_set(raw, tls.priority.get());
  gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, tls.credentials.get());
  gnutls_transport_set_ptr(raw, &t);
  gnutls_transport_set_push_function(raw, push_to_peer);
  gnutls_transport_set_pull_function(raw, pull_from_peer);
  gnutls_transport_set_pull_timeout_function(raw, wait_for_peer);
  gnutls_dtls_set_timeouts(raw, kRetransmitMs, kHandshakeTimeoutMs);
  gnutls_record_set_timeout(
      raw, unsigned(std::chrono::milliseconds(o.idle_timeout).count()));

  // XXX: GnuTLS's prestate keeps the sequence numbers as unsigned int, so a
  // record sequence number above 2^32 is narrowed; a first ClientHello's
  // numbers are far below that.
  gnutls_dtls_prestate_st gps{};
  gps.record_seq = unsigned(ps.record_seq);
  gps.hsk_read_seq = ps.hsk_read_seq;
  gps.hsk_write_seq = ps.hsk_write_seq;
  gnutls_dtls_prestate_set(raw, &gps);

  const std::string peer = to_string(t.peer);
  int rc;
  do {
    rc = gnutls_handshake(raw);
  } while (rc < 0 && !gnutls_error_is_fatal(rc));
  if (rc < 0) {
    log("%s handshake failed: %s", peer.c_str(), gnutls_strerror(rc));
    return;
  }
  char* desc = gnutls_session_get_desc(raw);
  log("%s handshake ok: %s", peer.c_str(), desc);
  gnutls_free(desc);

  std::array<char, 16384> record;
  uint64_t echoed = 0;
  const char* end = "closed by client";
  for (;;) {
    const ssize_t n = gnutls_record_recv(raw, record.data(), record.size());
    if (n == 0) break;
    if (n > 0) {
      if (gnutls_record_send(raw, record.data(), size_t(n)) < 0) {
        end = "send failed";
        break;
      }
      ++echoed;
      continue;
    }
    if (n == GNUTLS_E_TIMEDOUT) {
      end = "idle timeout";
      break;
    }
    if (gnutls_error_is_fatal(int(n))) {
      end = gnutls_strerror(int(n));
      break;
    }
  }
  gnutls_bye(raw, GNUTLS_SHUT_WR);
  log("%s session ended: %s, %llu records echoed", peer.c_str(), end,
      static_cast<unsigned long long>(echoed));
}

int run(const server_options& o) {
  const auto keys = make_key_source(o);
  const tls_config tls(o);
  const unique_fd fd = bind_udp(parse_address(o.listen), port_use::exclusive);
  log("listening on %s", to_string(local_address(fd.get())).c_str());

  // A ClientHello is at most one datagram; this holds any UDP payload.
  static std::array<uint8_t, 65536> datagram;
  uint64_t served = 0;
  bool had_keys = true;
  while (o.max_clients == 0 || served < o.max_clients) {
    peer_transport t;
    t.fd = fd.get();
    t.peer.len = sizeof t.peer.storage;
    // Peeked, not read: a ClientHello with a valid cookie stays queued for
    // GnuTLS to read as the first message of the handshake.
    const ssize_t n =
        recvfrom(fd.get(), datagram.data(), datagram.size(), MSG_PEEK,
                 reinterpret_cast<sockaddr*>(&t.peer.storage), &t.peer.len);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw dc::error(std::string("recvfrom: ") + std::strerror(errno));
    }

    const dc::key_set key_set = keys->keys();
    if (key_set.empty() == had_keys) {
      had_keys = !had_keys;
      log(had_keys ? "cookie keys available again"
                   : "no cookie keys: dropping ClientHellos");
    }
    dc::prestate ps;
    const int rc = dc::cookie_verify(&key_set, t.peer.get(), t.peer.len,
                                     datagram.data(), size_t(n), &ps);
    if (rc != dc::kSuccess) {
      recv(fd.get(), datagram.data(), 1, 0);
      // Only a ClientHello earns a HelloVerifyRequest; stray records of
      // finished sessions are dropped like the XDP responder drops them.
      if (rc == dc::kErrBadCookie)
        dc::cookie_send(&key_set, t.peer.get(), t.peer.len, &ps, &t,
                        push_to_peer);
      continue;
    }
    serve_client(t, ps, tls, o);
    ++served;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const server_options options = parse_options(
      argc, argv,
      "DTLS 1.2 echo server on GnuTLS whose ClientHello cookies are those of "
      "the XDP responder");
  try {
    return run(options);
  } catch (const std::exception& e) {
    log("error: %s", e.what());
    return 1;
  }
}
