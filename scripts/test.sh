#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what
# is missing, builds, runs every test through CTest, then the same suites
# built with AddressSanitizer and UBSan (scripts/sanitize.sh) and every
# fuzz target on its corpus and for a bounded time (scripts/fuzz.sh).
# Every stage runs even when one before it failed; the last line sums them.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<USAGE
usage: scripts/test.sh [--fuzz-time SECONDS] [--no-sanitize] [--no-fuzz]
                       [CTEST ARGUMENTS...]

  --fuzz-time SECONDS  fuzzing time per target after its corpus run
                       (default 60; 0 runs the corpora only)
  --no-sanitize        leave out the sanitizer build and its tests
  --no-fuzz            leave out the fuzz targets
  CTEST ARGUMENTS      passed to the plain build's ctest, e.g. -R '^unit\.'
USAGE
}

fuzz_time=60
sanitize=1
fuzz=1
ctest_args=()
while (($#)); do
  case $1 in
    --fuzz-time)
      [[ ${2:-} =~ ^[0-9]+$ ]] || { usage >&2; exit 2; }
      fuzz_time=$2
      shift 2
      ;;
    --no-sanitize) sanitize= && shift ;;
    --no-fuzz) fuzz= && shift ;;
    -h | --help) usage && exit 0 ;;
    *) ctest_args+=("$1") && shift ;;
  esac
done

scripts/deps.sh
scripts/build.sh
build=${BUILD_DIR:-build}
logs=$build/test-logs
mkdir -p "$logs"

passed=0
failed=0
stages=()

# Each counter adds the tests of a stage's LOG to the sums and leaves how
# many of them failed in $stage_failed.
stage_failed=0

# ctest_counts LOG: CTest's own count.
ctest_counts() {
  local line
  stage_failed=0
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' \
    "$1" | tail -n 1) || return 0
  stage_failed=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + $(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line") -
    stage_failed))
  failed=$((failed + stage_failed))
}

# fuzz_counts LOG: one test per fuzz target (its corpus run and its
# fuzzing), once fuzz.sh got as far as a verdict.
fuzz_counts() {
  local targets
  targets=$(find fuzz/corpus -mindepth 1 -maxdepth 1 -type d | wc -l)
  stage_failed=$(sed -n '/^fuzz.sh: FAILED$/,$p' "$1" | grep -c '^  ') || true
  if ((stage_failed == 0)) && ! grep -q '^fuzz.sh: no crash in' "$1"; then
    return 0 # it stopped before the targets ran (a build failure)
  fi
  passed=$((passed + targets - stage_failed))
  failed=$((failed + stage_failed))
}

# stage NAME COUNTER CMD...: runs CMD with its output on the terminal and
# in a log, counts its tests with COUNTER, and records whether it passed.
# A stage that fails without a failed test (a build, a sanitizer report
# outside any test's verdict) counts as one failure.
stage() {
  local name=$1 counter=$2 rc=0 t0=$SECONDS log
  shift 2
  log=$logs/$(tr -c 'a-zA-Z0-9\n' '-' <<<"$name" | tr -s '-').log
  echo "==== $name"
  "$@" 2>&1 | tee "$log" || rc=$?
  "$counter" "$log"
  if ((rc == 0)); then
    stages+=("passed  $name ($((SECONDS - t0)) s)")
  else
    ((stage_failed > 0)) || failed=$((failed + 1))
    stages+=("FAILED  $name ($((SECONDS - t0)) s, exit $rc; log $log)")
  fi
}

stage "tests" ctest_counts \
  ctest --test-dir "$build" --output-on-failure --timeout 600 -j1 \
  "${ctest_args[@]}"
if [[ -n $sanitize ]]; then
  stage "tests under AddressSanitizer and UBSan" ctest_counts \
    scripts/sanitize.sh
fi
if [[ -n $fuzz ]]; then
  stage "fuzz targets, ${fuzz_time} s each" fuzz_counts \
    scripts/fuzz.sh --time "$fuzz_time"
fi

echo
echo "==== summary"
printf '%s\n' "${stages[@]}"
echo "suite: $passed passed, $failed failed"
((failed == 0))
