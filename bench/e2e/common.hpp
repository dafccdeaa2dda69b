// What the end-to-end benchmark's subcommands share: the ClientHello the
// flood sends, CPU pinning, address parsing and the stop flag that SIGINT
// and SIGTERM raise.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dtls_cookie/packet.hpp"
#include "openssl_hello.hpp"

namespace e2e {

using clock = std::chrono::steady_clock;

// Thrown for anything a subcommand cannot go on with; main prints it.
struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "what: strerror(err)"; err may be a negative errno as libbpf returns.
[[noreturn]] void fail(const std::string& what, int err);

// Pins the calling thread to one CPU.
void pin_to_cpu(int cpu);

// "0,1" -> {0, 1}.
std::vector<int> parse_cpus(const std::string& text);

// "192.0.2.1:4433" -> sockaddr_in.
sockaddr_in parse_endpoint(const std::string& text);

// "02:00:00:00:00:01" -> bytes.
dtls_cookie::packet::mac_addr parse_mac(const std::string& text);

using dtls_cookie::bench::openssl_like_client_hello;

// A thread's time on a CPU and time spent runnable but waiting for one
// (other tasks had it), from /proc/self/task/TID/schedstat.
struct sched_times {
  uint64_t run_ns = 0;
  uint64_t wait_ns = 0;
};
sched_times thread_sched_times(int tid);

// Raised by SIGINT and SIGTERM once install_stop_handlers() ran.
extern std::atomic<bool> stop_requested;
void install_stop_handlers();

// Seconds since t.
inline double since(clock::time_point t) {
  return std::chrono::duration<double>(clock::now() - t).count();
}

int run_flood(int argc, char** argv);
int run_serve(int argc, char** argv);
int run_report(int argc, char** argv);

}  // namespace e2e
