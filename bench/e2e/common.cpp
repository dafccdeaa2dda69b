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
