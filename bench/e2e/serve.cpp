// bench_e2e serve: userspace HelloVerifyRequest responders, the figures the
// XDP responder is held against. Each answers every ClientHello without a
// valid cookie, as a DTLS server's first step does:
// - gnutls:  gnutls_dtls_cookie_verify, then gnutls_dtls_cookie_send
//            (HMAC-SHA1), datagrams in and out in batches (recvmmsg,
//            sendmmsg);
// - siphash: the same loop on this project's cookie_verify / cookie_send;
// - openssl: OpenSSL's DTLSv1_listen on one SSL object that loops over the
//            datagrams, with this project's SipHash cookie in its
//            callbacks, so what it adds over siphash is OpenSSL's own
//            datagram handling.
// Bounded by --seconds and --max-packets; prints "ready" once bound and one
// JSON line of counts when done.
#include <fcntl.h>
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <utility>

#include "common.hpp"
#include "dtls_cookie/cookie.hpp"
#include "dtls_cookie/keys.hpp"

namespace e2e {
namespace {

namespace dc = dtls_cookie;

constexpr int kRecvTimeoutMs = 50;
constexpr size_t kMaxBatch = 256;
constexpr size_t kMaxDatagram = 2048;
constexpr size_t kMaxAnswer = 64;

struct serve_options {
  std::string impl;
  std::string listen = "192.0.2.1:4433";
  int cpu = -1;
  double seconds = 10;
  uint64_t max_packets = 100'000'000;
  size_t batch = 64;
  std::string send = "sendmmsg";
  int rcvbuf = 0;
};

// The responder thread's CPU time, and its time runnable but waiting for
// the CPU, while datagrams flowed: from the first datagram to the last
// sample, taken at most every 50 ms. A share of running well below 1
// means the responder waited for datagrams: it was not what limited the
// figure.
class busy_meter {
 public:
  void on_work() {
    const auto now = clock::now();
    if (!started_) {
      first_ = last_ = sample(now);
      started_ = true;
    } else if (now - last_.at >= std::chrono::milliseconds(50)) {
      last_ = sample(now);
    }
  }
  double seconds() const {
    return std::chrono::duration<double>(last_.at - first_.at).count();
  }
  double run_share() const {
    return double(last_.t.run_ns - first_.t.run_ns) / 1e9 / seconds();
  }
  double wait_share() const {
    return double(last_.t.wait_ns - first_.t.wait_ns) / 1e9 / seconds();
  }

 private:
  struct point {
    clock::time_point at;
    sched_times t;
  };
  static point sample(clock::time_point now) {
    return {now, thread_sched_times(int(gettid()))};
  }
  bool started_ = false;
  point first_, last_;
};

struct counts {
  uint64_t received = 0;
  uint64_t answered = 0;
  uint64_t send_errors = 0;
  busy_meter busy;
};

class fd_owner {
 public:
  explicit fd_owner(int fd) : fd_(fd) {}
  fd_owner(fd_owner&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

fd_owner bind_socket(const serve_options& o, bool nonblocking) {
  const sockaddr_in addr = parse_endpoint(o.listen);
  fd_owner s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) fail("socket", errno);
  if (o.rcvbuf > 0 && setsockopt(s.get(), SOL_SOCKET, SO_RCVBUFFORCE, &o.rcvbuf,
                                 sizeof o.rcvbuf) < 0)
    fail("SO_RCVBUFFORCE", errno);
  // The timeout lets a blocking receive see the deadline and the stop flag.
  timeval tv{0, kRecvTimeoutMs * 1000};
  if (setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    fail("SO_RCVTIMEO", errno);
  if (bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0)
    fail("bind " + o.listen, errno);
  if (nonblocking && fcntl(s.get(), F_SETFL, O_NONBLOCK) < 0)
    fail("O_NONBLOCK", errno);
  return s;
}

void announce_ready() { std::cout << "ready" << std::endl; }

bool keep_going(const serve_options& o, clock::time_point deadline,
                const counts& c) {
  return !stop_requested.load(std::memory_order_relaxed) &&
         c.received < o.max_packets && clock::now() < deadline;
}

// Where a cookie_send's push function writes the HelloVerifyRequest.
struct answer_slot {
  uint8_t bytes[kMaxAnswer];
  size_t size = 0;
};

ssize_t push_to_slot(void* ptr, const void* data, size_t size) {
  auto* slot = static_cast<answer_slot*>(ptr);
  if (size > sizeof slot->bytes) return -1;
  std::memcpy(slot->bytes, data, size);
  slot->size = size;
  return ssize_t(size);
}

ssize_t gnutls_push_to_slot(gnutls_transport_ptr_t ptr, const void* data,
                            size_t size) {
  return push_to_slot(ptr, data, size);
}

// The answer to one datagram into slot: true when there is one to send.
class gnutls_cookies {
 public:
  gnutls_cookies() {
    const int err = gnutls_key_generate(&key_, GNUTLS_COOKIE_KEY_SIZE);
    if (err < 0)
      throw failure(std::string("gnutls_key_generate: ") +
                    gnutls_strerror(err));
  }
  ~gnutls_cookies() { gnutls_free(key_.data); }
  gnutls_cookies(const gnutls_cookies&) = delete;
  gnutls_cookies& operator=(const gnutls_cookies&) = delete;

  bool answer(uint8_t* msg, size_t len, sockaddr_in& peer, answer_slot& slot) {
    gnutls_dtls_prestate_st pre{};
    if (gnutls_dtls_cookie_verify(&key_, &peer, sizeof peer, msg, len, &pre) ==
        0)
      return false;  // a valid cookie: the handshake would go on
    return gnutls_dtls_cookie_send(&key_, &peer, sizeof peer, &pre, &slot,
                                   gnutls_push_to_slot) > 0;
  }

 private:
  gnutls_datum_t key_{};
};

class siphash_cookies {
 public:
  siphash_cookies() : keys_(dc::random_key(1)) {}

  bool answer(uint8_t* msg, size_t len, sockaddr_in& peer, answer_slot& slot) {
    dc::prestate pre{};
    if (dc::cookie_verify(&keys_, &peer, sizeof peer, msg, len, &pre) == 0)
      return false;
    return dc::cookie_send(&keys_, &peer, sizeof peer, &pre, &slot,
                           push_to_slot) > 0;
  }

 private:
  dc::key_set keys_;
};

// recvmmsg in batches, an answer per datagram, sendmmsg (or sendto each).
template <typename Cookies>
counts batch_loop(const serve_options& o, Cookies& cookies) {
  const fd_owner s = bind_socket(o, false);
  const size_t batch = std::clamp<size_t>(o.batch, 1, kMaxBatch);
  std::vector<std::array<uint8_t, kMaxDatagram>> buf(batch);
  std::vector<sockaddr_in> peer(batch);
  std::vector<iovec> iov(batch), out_iov(batch);
  std::vector<mmsghdr> in(batch), out(batch);
  std::vector<answer_slot> slot(batch);
  for (size_t i = 0; i < batch; ++i) {
    iov[i] = {buf[i].data(), buf[i].size()};
    in[i].msg_hdr.msg_iov = &iov[i];
    in[i].msg_hdr.msg_iovlen = 1;
  }
  const bool use_sendmmsg = o.send == "sendmmsg";
  announce_ready();
  const auto deadline =
      clock::now() + std::chrono::duration_cast<clock::duration>(
                         std::chrono::duration<double>(o.seconds));
  counts c;
  while (keep_going(o, deadline, c)) {
    for (size_t i = 0; i < batch; ++i) {
      in[i].msg_hdr.msg_name = &peer[i];
      in[i].msg_hdr.msg_namelen = sizeof peer[i];
    }
    const int n =
        recvmmsg(s.get(), in.data(), unsigned(batch), MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      fail("recvmmsg", errno);
    }
    c.received += unsigned(n);
    c.busy.on_work();
    unsigned m = 0;
    for (int i = 0; i < n; ++i) {
      if (!cookies.answer(buf[i].data(), in[i].msg_len, peer[i], slot[m]))
        continue;
      out_iov[m] = {slot[m].bytes, slot[m].size};
      out[m].msg_hdr = {};
      out[m].msg_hdr.msg_name = &peer[i];
      out[m].msg_hdr.msg_namelen = sizeof peer[i];
      out[m].msg_hdr.msg_iov = &out_iov[m];
      out[m].msg_hdr.msg_iovlen = 1;
      ++m;
    }
    if (use_sendmmsg) {
      for (unsigned done = 0; done < m;) {
        const int k = sendmmsg(s.get(), out.data() + done, m - done, 0);
        if (k <= 0) {
          c.send_errors += m - done;  // a full queue drops the rest
          break;
        }
        done += unsigned(k);
        c.answered += unsigned(k);
      }
    } else {
      for (unsigned i = 0; i < m; ++i) {
        if (sendto(s.get(), slot[i].bytes, slot[i].size, 0,
                   static_cast<sockaddr*>(out[i].msg_hdr.msg_name),
                   out[i].msg_hdr.msg_namelen) < 0)
          ++c.send_errors;
        else
          ++c.answered;
      }
    }
  }
  return c;
}

// --- OpenSSL ---------------------------------------------------------------

// The callbacks find the responder through the SSL_CTX's app data.
struct openssl_state {
  dc::key_set keys{dc::random_key(1)};
  counts c;
  clock::time_point deadline;
};

std::optional<dc::client_identity> peer_of(SSL* ssl) {
  sockaddr_storage ss{};
  // num = 0: the BIO copies as many bytes as the peer's address family has.
  BIO_ctrl(SSL_get_rbio(ssl), BIO_CTRL_DGRAM_GET_PEER, 0, &ss);
  return dc::client_identity_from_sockaddr(&ss, sizeof ss);
}

openssl_state* state_of(SSL* ssl) {
  return static_cast<openssl_state*>(
      SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* len) {
  openssl_state* st = state_of(ssl);
  st->c.busy.on_work();
  // DTLSv1_listen returns only once the socket is empty; failing the
  // cookie makes it return while a flood goes on.
  if (stop_requested.load(std::memory_order_relaxed) ||
      clock::now() >= st->deadline)
    return 0;
  const auto id = peer_of(ssl);
  if (!id) return 0;
  const dc_cookie ck = dc::make_cookie(*st->keys.current(), *id);
  std::memcpy(cookie, &ck, sizeof ck);
  *len = sizeof ck;
  ++st->c.answered;  // DTLSv1_listen sends a HelloVerifyRequest with it
  return 1;
}

int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int len) {
  const auto id = peer_of(ssl);
  return id && dc::is_valid(dc::check_cookie(state_of(ssl)->keys, *id,
                                             std::span(cookie, len)));
}

struct ssl_ctx_deleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct ssl_deleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct addr_deleter {
  void operator()(BIO_ADDR* a) const { BIO_ADDR_free(a); }
};

std::unique_ptr<SSL, ssl_deleter> new_listener(SSL_CTX* ctx, int fd) {
  std::unique_ptr<SSL, ssl_deleter> ssl(SSL_new(ctx));
  if (!ssl) throw failure("SSL_new failed");
  BIO* bio = BIO_new_dgram(fd, BIO_NOCLOSE);
  if (!bio) throw failure("BIO_new_dgram failed");
  SSL_set_bio(ssl.get(), bio, bio);
  SSL_set_options(ssl.get(), SSL_OP_COOKIE_EXCHANGE);
  return ssl;
}

counts openssl_loop(const serve_options& o) {
  openssl_state st;
  std::unique_ptr<SSL_CTX, ssl_ctx_deleter> ctx(
      SSL_CTX_new(DTLS_server_method()));
  if (!ctx) throw failure("SSL_CTX_new failed");
  SSL_CTX_set_app_data(ctx.get(), &st);
  SSL_CTX_set_cookie_generate_cb(ctx.get(), generate_cookie);
  SSL_CTX_set_cookie_verify_cb(ctx.get(), verify_cookie);
  // Non-blocking: DTLSv1_listen answers datagram after datagram and returns
  // 0 once the socket is empty.
  const fd_owner s = bind_socket(o, true);
  auto ssl = new_listener(ctx.get(), s.get());
  std::unique_ptr<BIO_ADDR, addr_deleter> client(BIO_ADDR_new());
  announce_ready();
  const auto deadline =
      clock::now() + std::chrono::duration_cast<clock::duration>(
                         std::chrono::duration<double>(o.seconds));
  st.deadline = deadline;
  // received is not seen datagram by datagram here; the HelloVerifyRequests
  // are (one cookie per answer), and the flood counts what arrives.
  while (keep_going(o, deadline, st.c) && st.c.answered < o.max_packets) {
    const int r = DTLSv1_listen(ssl.get(), client.get());
    if (r == 0) {
      pollfd p{s.get(), POLLIN, 0};
      poll(&p, 1, kRecvTimeoutMs);
      continue;
    }
    // A valid cookie (never sent by the flood) or a fatal error: start
    // over on a fresh object, as a server hands the old one to a worker.
    ERR_clear_error();
    ssl = new_listener(ctx.get(), s.get());
  }
  st.c.received = st.c.answered;
  return st.c;
}

int serve(const serve_options& o) {
  install_stop_handlers();
  if (o.cpu >= 0) pin_to_cpu(o.cpu);
  if (o.send != "sendmmsg" && o.send != "sendto")
    throw failure("--send is sendmmsg or sendto");
  const auto t0 = clock::now();
  counts c;
  if (o.impl == "gnutls") {
    gnutls_cookies g;
    c = batch_loop(o, g);
  } else if (o.impl == "siphash") {
    siphash_cookies l;
    c = batch_loop(o, l);
  } else if (o.impl == "openssl") {
    c = openssl_loop(o);
  } else {
    throw failure("--impl is gnutls, siphash or openssl");
  }
  nlohmann::json j;
  j["impl"] = o.impl;
  j["received"] = c.received;
  j["answered"] = c.answered;
  j["send_errors"] = c.send_errors;
  j["seconds"] = since(t0);
  j["busy_seconds"] = c.busy.seconds();
  j["run_share"] = c.busy.run_share();
  j["wait_share"] = c.busy.wait_share();
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

int run_serve(int argc, char** argv) {
  serve_options o;
  CLI::App app{
      "A userspace responder: answers every ClientHello without a valid "
      "cookie with a HelloVerifyRequest until --seconds or --max-packets."};
  app.add_option("--impl", o.impl, "gnutls, siphash or openssl")->required();
  app.add_option("--listen", o.listen, "ADDR:PORT to bind")
      ->capture_default_str();
  app.add_option("--cpu", o.cpu, "pin to this CPU (-1: no pinning)")
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "run at most this long")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--max-packets", o.max_packets, "datagrams at most")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "datagrams per recvmmsg/sendmmsg")
      ->capture_default_str()
      ->check(CLI::Range(size_t(1), kMaxBatch));
  app.add_option("--send", o.send, "sendmmsg or sendto (one per answer)")
      ->capture_default_str();
  app.add_option("--rcvbuf", o.rcvbuf, "SO_RCVBUFFORCE bytes (0: default)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return serve(o);
}

}  // namespace e2e
