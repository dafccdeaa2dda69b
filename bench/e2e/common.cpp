// Helpers shared by the end-to-end benchmark's subcommands: pinning,
// parsing, the stop flag and the ClientHello every run floods with.
#include "common.hpp"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dtls_cookie/abi/abi.h"

namespace e2e {

namespace pk = dtls_cookie::packet;

std::atomic<bool> stop_requested{false};

void fail(const std::string& what, int err) {
  throw failure(what + ": " + std::strerror(err < 0 ? -err : err));
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (err) fail("pinning to CPU " + std::to_string(cpu), err);
}

std::vector<int> parse_cpus(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int cpu = -1;
    try {
      cpu = std::stoi(item, &used);
    } catch (const std::exception&) {
    }
    if (cpu < 0 || used != item.size())
      throw failure("not a CPU list: " + text);
    cpus.push_back(cpu);
  }
  if (cpus.empty()) throw failure("empty CPU list");
  return cpus;
}

sockaddr_in parse_endpoint(const std::string& text) {
  const size_t colon = text.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, text.substr(0, colon).c_str(), &sa.sin_addr) != 1)
    throw failure("not an IPv4 ADDR:PORT: " + text);
  const unsigned long port =
      std::strtoul(text.c_str() + colon + 1, nullptr, 10);
  if (port == 0 || port > 65535) throw failure("bad port in " + text);
  sa.sin_port = htons(uint16_t(port));
  return sa;
}

pk::mac_addr parse_mac(const std::string& text) {
  pk::mac_addr mac{};
  unsigned b[6];
  char tail;
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2],
                  &b[3], &b[4], &b[5], &tail) != 6)
    throw failure("not a MAC address: " + text);
  for (int i = 0; i < 6; ++i) {
    if (b[i] > 0xff) throw failure("not a MAC address: " + text);
    mac[i] = uint8_t(b[i]);
  }
  return mac;
}

pk::client_hello openssl_like_client_hello() {
  pk::client_hello ch;
  ch.record_version = DC_VERSION_DTLS10;
  ch.client_version = DC_VERSION_DTLS12;
  for (size_t i = 0; i < ch.random.size(); ++i)
    ch.random[i] = uint8_t(0x8d ^ (i * 29));
  ch.cipher_suites = {0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b,
                      0xc02f, 0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027,
                      0x0067, 0xc00a, 0xc014, 0x0039, 0xc009, 0xc013, 0x0033,
                      0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff};
  ch.compression = {0};
  std::vector<pk::extension> ext;
  ext.push_back({0x000b, {3, 0, 1, 2}});  // ec_point_formats
  ext.push_back({0x000a,                  // supported_groups
                 {0, 10, 0, 0x1d, 0, 0x17, 0, 0x1e, 0, 0x19, 0, 0x18}});
  ext.push_back({0x0023, {}});  // session_ticket
  ext.push_back({0x0016, {}});  // encrypt_then_mac
  ext.push_back({0x0017, {}});  // extended_master_secret
  pk::bytes sig{0, 40};         // signature_algorithms: 20 schemes
  for (uint16_t s : {0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a,
                     0x080b, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                     0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602}) {
    sig.push_back(uint8_t(s >> 8));
    sig.push_back(uint8_t(s));
  }
  ext.push_back({0x000d, sig});
  ch.extensions = ext;
  return ch;
}

sched_times thread_sched_times(int tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  sched_times t;
  if (!(f >> t.run_ns >> t.wait_ns)) return {};
  return t;
}

namespace {
void on_stop(int) { stop_requested.store(true, std::memory_order_relaxed); }
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a blocking receive returns EINTR and sees the flag.
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace e2e
