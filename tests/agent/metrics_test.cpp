// The metrics endpoint without a kernel: the Prometheus text, the HTTP
// answers, address parsing, and the listener serving real loopback
// clients from a poll loop while another client stalls.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "dtls_cookie/model.hpp"
#include "dtls_cookie/version.hpp"
#include "metrics.hpp"

namespace dtls_cookie::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

metrics_snapshot snapshot() {
  metrics_snapshot s;
  for (uint32_t i = 0; i < DC_CNT_MAX; ++i) s.values[i] = 1000 + 7 * i;
  s.now = std::chrono::system_clock::time_point(1'700'000'000s);
  key cur, prev;
  cur.generation = 42;
  cur.created_unix_ns = uint64_t(1'700'000'000 - 30) * 1'000'000'000;
  prev.generation = 41;
  prev.created_unix_ns =
      uint64_t(1'700'000'000 - 90) * 1'000'000'000 + 500'000'000;  // 89.5 s
  s.keys = key_set(cur, prev);
  s.links = {{"eth0", 2, attach_mode::native, 11},
             {"we\"ird\\", 7, attach_mode::generic, 12}};
  s.rotations = 5;
  return s;
}

TEST(RenderMetrics, EveryCounterWithHelpTypeAndValue) {
  const std::string text = render_metrics(snapshot());
  EXPECT_THAT(text,
              HasSubstr("# TYPE dtls_cookie_xdp_actions_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE dtls_cookie_packets_total counter\n"));
  // Values 1000 + 7 * index, in the order of enum dc_counter.
  const char* const expected[] = {
      "dtls_cookie_xdp_actions_total{action=\"pass\"} 1000\n",
      "dtls_cookie_xdp_actions_total{action=\"drop\"} 1007\n",
      "dtls_cookie_xdp_actions_total{action=\"tx\"} 1014\n",
      "dtls_cookie_xdp_actions_total{action=\"aborted\"} 1021\n",
      "dtls_cookie_packets_total{reason=\"not_ours\"} 1028\n",
      "dtls_cookie_packets_total{reason=\"answered_no_cookie\"} 1035\n",
      "dtls_cookie_packets_total{reason=\"answered_bad_cookie\"} 1042\n",
      "dtls_cookie_packets_total{reason=\"valid_cookie_current\"} 1049\n",
      "dtls_cookie_packets_total{reason=\"valid_cookie_previous\"} 1056\n",
      "dtls_cookie_packets_total{reason=\"bad_source\"} 1063\n",
      "dtls_cookie_packets_total{reason=\"established\"} 1070\n",
      "dtls_cookie_packets_total{reason=\"fragmented\"} 1077\n",
      "dtls_cookie_packets_total{reason=\"dtls13\"} 1084\n",
      "dtls_cookie_packets_total{reason=\"malformed\"} 1091\n",
      "dtls_cookie_packets_total{reason=\"no_keys\"} 1098\n",
      "dtls_cookie_packets_total{reason=\"tx_failed\"} 1105\n",
      "dtls_cookie_packets_total{reason=\"rate_limited\"} 1112\n",
  };
  static_assert(std::size(expected) == DC_CNT_MAX);
  for (const char* line : expected) EXPECT_THAT(text, HasSubstr(line));
  EXPECT_THAT(text, HasSubstr("dtls_cookie_build_info{version=\"" +
                              std::string(DTLS_COOKIE_VERSION) + "\"} 1\n"));
}

TEST(RenderMetrics, KeysRotationsAndInterfaces) {
  const std::string text = render_metrics(snapshot());
  EXPECT_THAT(text, HasSubstr("# TYPE dtls_cookie_key_generation gauge\n"));
  EXPECT_THAT(text,
              HasSubstr("dtls_cookie_key_generation{key=\"current\"} 42\n"));
  EXPECT_THAT(text,
              HasSubstr("dtls_cookie_key_generation{key=\"previous\"} 41\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE dtls_cookie_key_age_seconds gauge\n"));
  EXPECT_THAT(
      text, HasSubstr("dtls_cookie_key_age_seconds{key=\"current\"} 30.000\n"));
  EXPECT_THAT(
      text,
      HasSubstr("dtls_cookie_key_age_seconds{key=\"previous\"} 89.500\n"));
  EXPECT_THAT(text, HasSubstr("dtls_cookie_key_rotations_total 5\n"));
  EXPECT_THAT(text,
              HasSubstr("dtls_cookie_interface_attached{interface=\"eth0\","
                        "ifindex=\"2\",mode=\"native\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("dtls_cookie_interface_attached{interface="
                              "\"we\\\"ird\\\\\",ifindex=\"7\",mode=\"skb\"} "
                              "1\n"));
}

TEST(RenderMetrics, NoKeyNoKeyGauges) {
  metrics_snapshot s = snapshot();
  s.keys = {};
  s.links.clear();
  const std::string text = render_metrics(s);
  EXPECT_THAT(text, Not(HasSubstr("dtls_cookie_key_generation{")));
  EXPECT_THAT(text, Not(HasSubstr("dtls_cookie_interface_attached{")));
}

// The exposition format's grammar, as a scraper reads it: each family
// has one HELP and one TYPE line before its samples, and every sample
// line is a name, optional labels and a number.
TEST(RenderMetrics, ParsesAsTextFormat) {
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9]+(\.[0-9]+)?)");
  const std::regex type_line(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  std::set<std::string> typed, helped;
  std::string current;
  const std::string text = render_metrics(snapshot());
  ASSERT_EQ(text.back(), '\n');
  for (const std::string& l : lines_of(text)) {
    std::smatch m;
    if (l.starts_with("# HELP ")) {
      const std::string name = l.substr(7, l.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "second HELP: " << l;
    } else if (std::regex_match(l, m, type_line)) {
      EXPECT_TRUE(typed.insert(m[1]).second) << "second TYPE: " << l;
      EXPECT_TRUE(helped.contains(m[1])) << "TYPE before HELP: " << l;
      current = m[1];
    } else {
      ASSERT_TRUE(std::regex_match(l, m, sample)) << "not a sample: " << l;
      EXPECT_EQ(m[1], current) << "sample outside its family: " << l;
    }
  }
  EXPECT_EQ(typed.size(), 7u);
}

// dtls-cookie(8) lists every family the agent serves, each on a .B line of
// its own, and every value of the action and reason labels.
TEST(RenderMetrics, EveryFamilyAndLabelValueIsInTheManualPage) {
  std::ifstream in(DC_AGENT_MAN_SOURCE);
  ASSERT_TRUE(in) << DC_AGENT_MAN_SOURCE;
  std::stringstream page;
  page << in.rdbuf();
  const std::string man = page.str();
  const std::string section = man.substr(man.find(".SH METRICS"));
  const std::regex type_line(R"(# TYPE ([a-z_]+) )");
  const std::regex label(R"((action|reason)="([a-z_0-9]+)\")");
  size_t families = 0, values = 0;
  for (const std::string& l : lines_of(render_metrics(snapshot()))) {
    std::smatch m;
    if (std::regex_search(l, m, type_line)) {
      ++families;
      EXPECT_THAT(section, HasSubstr("\n.B " + m[1].str() + "\n"))
          << "dtls-cookie(8) lacks the metric " << m[1];
    } else if (std::regex_search(l, m, label)) {
      ++values;
      const std::regex word("(^|[^a-z_])" + m[2].str() + "([^a-z_0-9]|$)");
      EXPECT_TRUE(std::regex_search(section, word))
          << "dtls-cookie(8) lacks " << m[1] << " " << m[2];
    }
  }
  EXPECT_EQ(families, 7u);
  EXPECT_EQ(values, size_t(DC_CNT_MAX));
}

std::string body_of(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

TEST(HttpResponse, MetricsPageAndErrors) {
  const auto render = [] { return std::string("a_metric 1\n"); };
  const std::string ok =
      http_response("GET /metrics HTTP/1.1\r\nHost: x", render);
  EXPECT_THAT(ok, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(ok, HasSubstr("Content-Length: 11\r\n"));
  EXPECT_EQ(body_of(ok), "a_metric 1\n");

  const std::string head = http_response("HEAD /metrics HTTP/1.0", render);
  EXPECT_THAT(head, HasSubstr("Content-Length: 11\r\n"));
  EXPECT_EQ(body_of(head), "");

  EXPECT_THAT(http_response("GET /metrics?x=1 HTTP/1.0", render),
              StartsWith("HTTP/1.0 200"));
  EXPECT_THAT(http_response("GET / HTTP/1.0", render),
              StartsWith("HTTP/1.0 200"));
  EXPECT_THAT(http_response("GET /other HTTP/1.0", render),
              StartsWith("HTTP/1.0 404"));
  EXPECT_THAT(http_response("POST /metrics HTTP/1.0", render),
              StartsWith("HTTP/1.0 405"));
  EXPECT_THAT(http_response("POST /metrics HTTP/1.0", render),
              HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(http_response("GET /metrics", render),
              StartsWith("HTTP/1.0 400"));
  EXPECT_THAT(http_response("\x16\xfe\xfd garbage", render),
              StartsWith("HTTP/1.0 400"));

  const std::string failed = http_response("GET /metrics HTTP/1.0", [] {
    throw std::runtime_error("bpf_map_lookup_elem on dc_counters failed");
    return std::string();
  });
  EXPECT_THAT(failed, StartsWith("HTTP/1.0 500"));
  EXPECT_THAT(failed, HasSubstr("dc_counters"));
}

std::string text_of(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
    return std::string(buf) + " " + std::to_string(ntohs(a.sin_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
  return std::string(buf) + " " + std::to_string(ntohs(a.sin6_port));
}

TEST(ParseListenAddress, Forms) {
  EXPECT_EQ(text_of(parse_listen_address("9464")), "127.0.0.1 9464");
  EXPECT_EQ(text_of(parse_listen_address("0.0.0.0:80")), "0.0.0.0 80");
  EXPECT_EQ(text_of(parse_listen_address("[::1]:9464")), "::1 9464");
  EXPECT_EQ(text_of(parse_listen_address("[::]:0")), ":: 0");
  for (const char* bad : {"", "x", "70000", "1.2.3.4:65536", "host:80",
                          "1.2.3.4:", ":80x", "[::1]", "1.2.3.4:-1"})
    EXPECT_THROW(parse_listen_address(bad), error) << bad;
  try {
    parse_listen_address("localhost:9464");
  } catch (const error& e) {
    EXPECT_THAT(e.what(), HasSubstr("localhost:9464"));
    EXPECT_THAT(e.what(), HasSubstr("numeric"));
  }
}

// A client of the listener: a non-blocking TCP socket, so the test (one
// thread) can interleave it with the server's poll loop.
struct client {
  explicit client(const std::string& port) {
    fd = unique_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(std::stoi(port)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  }
  void send_text(const std::string& s) {
    ASSERT_EQ(::send(fd.get(), s.data(), s.size(), 0), ssize_t(s.size()));
  }
  // Reads what is there; true once the server closed.
  bool read_some() {
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return false;
      got.append(buf, size_t(n));
    }
  }
  unique_fd fd;
  std::string got;
};

void serve_for(metrics_server& server, std::chrono::milliseconds budget,
               const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + budget;
  while (!done() && std::chrono::steady_clock::now() < end) {
    std::vector<pollfd> fds;
    server.add_poll_fds(fds);
    poll(fds.data(), fds.size(), 10);
    server.on_poll(fds, [] { return std::string("dtls_cookie_x_total 3\n"); });
  }
}

TEST(MetricsServer, ServesWhileAnotherClientStalls) {
  metrics_server server("127.0.0.1:0");
  const std::string where = server.local_address();
  ASSERT_THAT(where, StartsWith("127.0.0.1:"));
  const std::string port = where.substr(where.find(':') + 1);
  ASSERT_NE(port, "0");
  EXPECT_EQ(server.poll_timeout_ms(), -1);

  client slow(port);
  slow.send_text("GET /metr");
  client fast(port);
  fast.send_text("GET /metrics HTTP/1.0\r\nUser-Agent: test\r\n\r\n");

  bool fast_done = false;
  serve_for(server, 2000ms, [&] { return fast_done = fast.read_some(); });
  ASSERT_TRUE(fast_done) << "no answer while another client stalled";
  EXPECT_THAT(fast.got, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_EQ(body_of(fast.got), "dtls_cookie_x_total 3\n");
  EXPECT_TRUE(slow.got.empty());
  // The stalled connection is still open and counts towards the deadline.
  const int left = server.poll_timeout_ms();
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 5000);

  slow.send_text("ics HTTP/1.0\r\n\r\n");
  bool slow_done = false;
  serve_for(server, 2000ms, [&] { return slow_done = slow.read_some(); });
  ASSERT_TRUE(slow_done);
  EXPECT_EQ(body_of(slow.got), "dtls_cookie_x_total 3\n");
  EXPECT_EQ(server.poll_timeout_ms(), -1);
}

TEST(MetricsServer, OversizedRequestIsRefused) {
  metrics_server server("127.0.0.1:0");
  const std::string where = server.local_address();
  client c(where.substr(where.find(':') + 1));
  c.send_text("GET /metrics HTTP/1.0\r\nX: " + std::string(9000, 'a'));
  bool done = false;
  serve_for(server, 2000ms, [&] { return done = c.read_some(); });
  ASSERT_TRUE(done);
  EXPECT_THAT(c.got, StartsWith("HTTP/1.0 431"));
}

TEST(MetricsServer, BindErrorNamesTheAddress) {
  metrics_server first("127.0.0.1:0");
  const std::string where = first.local_address();
  try {
    metrics_server second(where);
    FAIL() << "a second listener bound " << where;
  } catch (const error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot bind TCP " + where));
    EXPECT_THAT(e.what(), HasSubstr("in use"));
  }
}

}  // namespace
}  // namespace dtls_cookie::agent
