// bench_e2e: the end-to-end benchmark's tools. flood sends ClientHellos
// into a veth and counts the answers, serve answers them in userspace,
// report turns the runs into the table, the ratios and the JSON figures.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common.hpp"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: bench_e2e flood|serve|report [OPTIONS]\n"
               "\n"
               "  flood   send ClientHellos out of the client end of a veth "
               "(test_run live\n"
               "          frames) and count the answers coming back\n"
               "  serve   a userspace HelloVerifyRequest responder: GnuTLS, "
               "this project's\n"
               "          library or OpenSSL's DTLSv1_listen\n"
               "  report  medians, ratios and bars from flood's output "
               "lines\n"
               "\n"
               "Each subcommand has its own --help. bench/e2e/bench_e2e.sh "
               "builds the veth\n"
               "lab and runs them; flood and serve need root.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char* cmd = argv[1];
  try {
    if (!std::strcmp(cmd, "flood")) return e2e::run_flood(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "serve")) return e2e::run_serve(argc - 1, argv + 1);
    if (!std::strcmp(cmd, "report")) return e2e::run_report(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_e2e %s: %s\n", cmd, e.what());
    return 1;
  }
  if (!std::strcmp(cmd, "--help") || !std::strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  usage(stderr);
  return 2;
}
