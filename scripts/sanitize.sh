#!/usr/bin/env bash
# Builds the library, the agent, the example servers and the tests with
# AddressSanitizer, LeakSanitizer and UBSan into build-asan/ and runs its
# tests there (as root). Every sanitizer report fails the run, also one
# from a process whose exit code a shell test does not look at: reports go
# to files, checked at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ASAN_BUILD_DIR:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDC_SANITIZE=ON \
  -DDC_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"

reports=$(realpath "$build")/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
# log_path: one file per process that reported (asan.PID, ubsan.PID).
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"

# Every test of the tree; CMake leaves out those it cannot hold: the fault
# test (it needs the benchmarks' flood) and the install tests (a consumer
# cannot link an instrumented library).
status=0
ctest --test-dir "$build" --output-on-failure --timeout 600 -j1 "$@" ||
  status=$?

if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize.sh: sanitizer reports:" >&2
  for f in "$reports"/*; do
    echo "---- $f" >&2
    cat "$f" >&2
  done
  status=1
fi
if ((status != 0)); then
  echo "sanitize.sh: FAILED" >&2
  exit "$status"
fi
echo "sanitize.sh: no sanitizer report"
