// dc_stress_key_log: records every key set the responder publishes, with
// the interval in which it was published, so the fault test can check each
// captured cookie against the keys valid at its capture time. Polls the
// pinned key map until SIGTERM.
//
// One line per key set seen, in CLOCK_REALTIME nanoseconds as tcpdump
// stamps its captures:
//   set LO HI CUR_GEN CUR_HEX PREV_GEN PREV_HEX
// The set was published after LO (the start of the last poll that still
// read the set before) and no later than HI (the end of the poll that read
// it first). An absent key is "- -".
// A last line "end POLLS MAX_GAP_US RETRIES" says how often the keys were
// read, and how often a read met a swap and was tried again.
#include <bpf/bpf.h>
#include <signal.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/responder.hpp"

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_stop(int) { stop_requested = 1; }

// XXX: CLOCK_REALTIME, because tcpdump stamps its frames with it; a clock
// step during the test would misplace the sets against the captures.
uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// The live set, or an empty one while no key map is pinned (a lost
// instance, which the checker reports). Empty optional: the read met a
// swap of the inner map and should be tried again, not logged.
std::optional<dtls_cookie::key_set> read_live(const std::string& path) {
  LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
  const dtls_cookie::unique_fd fd(bpf_obj_get_opts(path.c_str(), &opts));
  if (!fd) return dtls_cookie::key_set{};
  try {
    return dtls_cookie::read_keys(fd.get());
  } catch (const dtls_cookie::error&) {
    return std::nullopt;
  }
}

void print_key(std::FILE* out, const std::optional<dtls_cookie::key>& k) {
  if (!k) {
    std::fputs(" - -", out);
    return;
  }
  std::fprintf(out, " %u ", k->generation);
  for (uint8_t b : k->bytes) std::fprintf(out, "%02x", b);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PIN_DIR OUT_FILE POLL_MICROSECONDS\n",
                 argv[0]);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  const long poll_us = std::strtol(argv[3], nullptr, 10);
  std::FILE* out = std::fopen(argv[2], "w");
  if (!out) {
    std::perror(argv[2]);
    return 1;
  }
  try {
    const std::string path = std::string(argv[1]) + "/keys";
    std::optional<dtls_cookie::key_set> last;
    uint64_t last_start = 0;
    uint64_t polls = 0, retries = 0, max_gap_ns = 0, prev_end = 0;
    const timespec pause{0, poll_us * 1000};
    bool announced = false;
    while (!stop_requested) {
      const uint64_t start = now_ns(CLOCK_REALTIME);
      const std::optional<dtls_cookie::key_set> read = read_live(path);
      const uint64_t end = now_ns(CLOCK_REALTIME);
      if (!read) {
        ++retries;
        continue;
      }
      const dtls_cookie::key_set& keys = *read;
      ++polls;
      if (prev_end && end > prev_end && end - prev_end > max_gap_ns)
        max_gap_ns = end - prev_end;
      prev_end = end;
      if (!last || keys != *last) {
        // The first set was published before the log began: no lower bound.
        std::fprintf(out, "set %llu %llu",
                     static_cast<unsigned long long>(last ? last_start : 0),
                     static_cast<unsigned long long>(end));
        print_key(out, keys.current());
        print_key(out, keys.previous());
        std::fputc('\n', out);
        std::fflush(out);
        last = keys;
      }
      last_start = start;
      if (!announced) {
        std::printf("ready\n");
        std::fflush(stdout);
        announced = true;
      }
      nanosleep(&pause, nullptr);
    }
    std::fprintf(out, "end %llu %llu %llu\n",
                 static_cast<unsigned long long>(polls),
                 static_cast<unsigned long long>(max_gap_ns / 1000),
                 static_cast<unsigned long long>(retries));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dc_stress_key_log: %s\n", e.what());
    std::fclose(out);
    return 1;
  }
  std::fclose(out);
  return 0;
}
