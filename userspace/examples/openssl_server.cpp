// dtls-cookie-openssl-server: a DTLS 1.2 echo server on OpenSSL whose
// DTLSv1_listen issues and checks the project's cookies, so it accepts the
// cookies of the XDP responder and, alone, answers ClientHellos itself.
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>

#include "dtls_cookie/cookie.hpp"
#include "server_common.hpp"

namespace dc = dtls_cookie;
using namespace examples;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using ssl_ptr = std::unique_ptr<SSL, decltype(&SSL_free)>;
using bio_addr_ptr = std::unique_ptr<BIO_ADDR, decltype(&BIO_ADDR_free)>;

std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no OpenSSL error recorded";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

std::optional<socket_address> to_socket_address(const BIO_ADDR* a) {
  socket_address s;
  size_t len = 0;
  if (BIO_ADDR_family(a) == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(s.storage);
    in.sin_family = AF_INET;
    in.sin_port = BIO_ADDR_rawport(a);
    len = sizeof in.sin_addr;
    if (!BIO_ADDR_rawaddress(a, &in.sin_addr, &len)) return std::nullopt;
    s.len = sizeof in;
  } else if (BIO_ADDR_family(a) == AF_INET6) {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(s.storage);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = BIO_ADDR_rawport(a);
    len = sizeof in6.sin6_addr;
    if (!BIO_ADDR_rawaddress(a, &in6.sin6_addr, &len)) return std::nullopt;
    s.len = sizeof in6;
  } else {
    return std::nullopt;
  }
  return s;
}

// The identity the XDP responder sees: the address DTLSv1_listen read the
// ClientHello from.
std::optional<dc::client_identity> peer_identity(SSL* ssl) {
  bio_addr_ptr peer(BIO_ADDR_new(), &BIO_ADDR_free);
  if (!peer || BIO_dgram_get_peer(SSL_get_rbio(ssl), peer.get()) <= 0)
    return std::nullopt;
  const auto address = to_socket_address(peer.get());
  if (!address) return std::nullopt;
  return dc::client_identity_from_sockaddr(address->get(), address->len);
}

dc::key_set current_keys(SSL* ssl) {
  auto* source =
      static_cast<dc::key_source*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  return source->keys();
}

int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* len) {
  const auto id = peer_identity(ssl);
  const dc::key_set keys = current_keys(ssl);
  if (!id || keys.empty()) return 0;
  const dc_cookie c = dc::make_cookie(*keys.current(), *id);
  static_assert(sizeof c <= DTLS1_COOKIE_LENGTH);
  std::memcpy(cookie, &c, sizeof c);
  *len = sizeof c;
  return 1;
}

int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int len) {
  const auto id = peer_identity(ssl);
  if (!id) return 0;
  return dc::is_valid(
      dc::check_cookie(current_keys(ssl), *id, {cookie, size_t(len)}));
}

ssl_ctx_ptr make_context(const server_options& o, dc::key_source& keys) {
  require_readable(o.cert, "certificate");
  require_readable(o.key, "private key");
  ssl_ctx_ptr ctx(SSL_CTX_new(DTLS_server_method()), &SSL_CTX_free);
  if (!ctx) throw dc::error("SSL_CTX_new: " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), DTLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()) != 1)
    throw dc::error("loading certificate " + o.cert.string() + ": " +
                    openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM) !=
          1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    throw dc::error("loading private key " + o.key.string() + ": " +
                    openssl_reason());
  SSL_CTX_set_app_data(ctx.get(), &keys);
  SSL_CTX_set_cookie_generate_cb(ctx.get(), generate_cookie);
  SSL_CTX_set_cookie_verify_cb(ctx.get(), verify_cookie);
  return ctx;
}

// Waits for a datagram, running OpenSSL's retransmission timer meanwhile.
// False at the deadline or when the timer gives up.
bool wait_readable(SSL* ssl, int fd, clock_type::time_point deadline) {
  for (;;) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
    if (wait.count() <= 0) return false;
    timeval tv;
    bool timer = DTLSv1_get_timeout(ssl, &tv) == 1;
    if (timer) {
      wait = std::min(wait, std::chrono::milliseconds(tv.tv_sec * 1000 +
                                                      tv.tv_usec / 1000));
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, int(wait.count()));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
    if (ready == 0 && timer && DTLSv1_handle_timeout(ssl) < 0) return false;
  }
}

// Runs one SSL call on the nonblocking socket until it completes; false on
// error or at the deadline.
template <class Call>
int retry(SSL* ssl, int fd, clock_type::time_point deadline, Call call) {
  for (;;) {
    const int rc = call();
    if (rc > 0) return rc;
    const int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_WRITE && clock_type::now() < deadline) continue;
    if (err != SSL_ERROR_WANT_READ) return -err;
    if (!wait_readable(ssl, fd, deadline)) return 0;
  }
}

// Continues the handshake that DTLSv1_listen began on a socket connected to
// the peer, then echoes its records until it closes or falls idle.
void serve_client(SSL* ssl, const socket_address& local,
                  const BIO_ADDR* bio_peer, const server_options& o) {
  const auto peer = to_socket_address(bio_peer);
  if (!peer) return;
  const std::string name = to_string(*peer);

  // OpenSSL reads a session's records through one socket. A socket bound
  // to the server's port and connected to the peer receives that peer's
  // datagrams from now on, while the listening socket keeps the others.
  unique_fd fd = bind_udp(local, port_use::shared);
  if (connect(fd.get(), peer->get(), peer->len) != 0 ||
      fcntl(fd.get(), F_SETFL, O_NONBLOCK) != 0) {
    log("%s handshake failed: connect: %s", name.c_str(), std::strerror(errno));
    return;
  }
  BIO* bio = SSL_get_rbio(ssl);
  BIO_set_fd(bio, fd.get(), BIO_NOCLOSE);
  BIO_ctrl_set_connected(bio, bio_peer);

  int rc = retry(ssl, fd.get(), clock_type::now() + kHandshakeTimeout,
                 [&] { return SSL_accept(ssl); });
  if (rc <= 0) {
    log("%s handshake failed: %s", name.c_str(),
        rc == 0 ? "timed out" : openssl_reason().c_str());
    return;
  }
  log("%s handshake ok: %s %s", name.c_str(), SSL_get_version(ssl),
      SSL_get_cipher_name(ssl));

  std::array<char, 16384> record;
  uint64_t echoed = 0;
  std::string end = "closed by client";
  for (;;) {
    rc = retry(ssl, fd.get(), clock_type::now() + o.idle_timeout,
               [&] { return SSL_read(ssl, record.data(), record.size()); });
    if (rc == -SSL_ERROR_ZERO_RETURN) break;
    if (rc <= 0) {
      end = rc == 0 ? "idle timeout" : openssl_reason();
      break;
    }
    const int n = rc;
    rc = retry(ssl, fd.get(), clock_type::now() + o.idle_timeout,
               [&] { return SSL_write(ssl, record.data(), n); });
    if (rc <= 0) {
      end = "send failed";
      break;
    }
    ++echoed;
  }
  SSL_shutdown(ssl);
  ERR_clear_error();
  log("%s session ended: %s, %llu records echoed", name.c_str(), end.c_str(),
      static_cast<unsigned long long>(echoed));
}

int run(const server_options& o) {
  const auto keys = make_key_source(o);
  const ssl_ctx_ptr ctx = make_context(o, *keys);
  const unique_fd fd = bind_udp(parse_address(o.listen), port_use::exclusive);
  allow_connected_sockets(fd.get());
  const socket_address local = local_address(fd.get());
  log("listening on %s", to_string(local).c_str());

  uint64_t served = 0;
  while (o.max_clients == 0 || served < o.max_clients) {
    ssl_ptr ssl(SSL_new(ctx.get()), &SSL_free);
    BIO* bio = ssl ? BIO_new_dgram(fd.get(), BIO_NOCLOSE) : nullptr;
    if (!bio) throw dc::error("SSL_new: " + openssl_reason());
    SSL_set_bio(ssl.get(), bio, bio);
    SSL_set_options(ssl.get(), SSL_OP_COOKIE_EXCHANGE);
    bio_addr_ptr peer(BIO_ADDR_new(), &BIO_ADDR_free);
    if (!peer) throw dc::error("BIO_ADDR_new: " + openssl_reason());

    // On a blocking socket DTLSv1_listen returns only once a ClientHello
    // carries a cookie that verify_cookie accepts, answering the others
    // with a HelloVerifyRequest whose cookie generate_cookie made.
    const int rc = DTLSv1_listen(ssl.get(), peer.get());
    if (rc <= 0) {
      log("DTLSv1_listen: %s", openssl_reason().c_str());
      continue;
    }
    serve_client(ssl.get(), local, peer.get(), o);
    ++served;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const server_options options = parse_options(
      argc, argv,
      "DTLS 1.2 echo server on OpenSSL whose ClientHello cookies are those "
      "of the XDP responder");
  try {
    return run(options);
  } catch (const std::exception& e) {
    log("error: %s", e.what());
    return 1;
  }
}
