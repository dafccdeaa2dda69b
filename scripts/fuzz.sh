#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ into build-fuzz/ with clang and runs
# each one: first every file of its seed corpus once (the regression run),
# then fuzzing for a bounded time. Any crash, leak, timeout, out-of-memory
# or sanitizer report fails the script and prints the input's path.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<USAGE
usage: scripts/fuzz.sh [--time SECONDS] [--target NAME]...

  --time SECONDS  fuzzing time per target after its corpus run (default 60;
                  0 runs the corpus only)
  --target NAME   only this target (repeatable; default: every directory
                  of fuzz/corpus/)

Builds in \$FUZZ_BUILD_DIR (default build-fuzz/). New corpus entries go to
build-fuzz/corpus/NAME/, crash reproducers to build-fuzz/crashes/NAME/,
logs to build-fuzz/logs/. Reproduce one with: build-fuzz/fuzz/NAME FILE
USAGE
}

fuzz_time=60
targets=()
while (($#)); do
  case $1 in
    --time)
      [[ ${2:-} =~ ^[0-9]+$ ]] || { usage >&2; exit 2; }
      fuzz_time=$2
      shift 2
      ;;
    --target)
      [[ -n ${2:-} ]] || { usage >&2; exit 2; }
      targets+=("$2")
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "fuzz.sh: unknown argument '$1'" >&2
      usage >&2
      exit 2
      ;;
  esac
done
if ((${#targets[@]} == 0)); then
  for d in fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

build=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DDC_FUZZ=ON -DDC_BUILD_TESTS=OFF -DDC_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target fuzz_targets -j"$(nproc)"

logs=$build/logs
mkdir -p "$logs"
# Reports abort, so that libFuzzer keeps the input; stacks symbolised.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The limits of every run: memory per process, seconds per input.
limits=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1)

failed=()
summary=()

# The log's last lines and the input that caused the failure.
report_failure() {
  local target=$1 log=$2 what=$3 input
  echo "fuzz.sh: $target: $what failed; the end of $log:" >&2
  tail -n 40 "$log" >&2
  input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [[ -z $input ]]; then
    # The corpus run names each file before it runs it.
    input=$(sed -n 's/^Running: \(.*\)$/\1/p' "$log" | tail -n 1)
  fi
  echo "fuzz.sh: $target: crashing input: ${input:-unknown (see $log)}" >&2
  [[ -n $input ]] && echo "fuzz.sh: reproduce with: $build/fuzz/$target $input" >&2
  failed+=("$target ($what): ${input:-see $log}")
}

stat() {
  sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

for t in "${targets[@]}"; do
  bin=$build/fuzz/$t
  seeds=fuzz/corpus/$t
  [[ -x $bin ]] || { echo "fuzz.sh: no target $bin" >&2; exit 2; }
  [[ -d $seeds ]] || { echo "fuzz.sh: no seed corpus $seeds" >&2; exit 2; }
  crashes=$build/crashes/$t
  work=$build/corpus/$t
  mkdir -p "$crashes" "$work"
  dict=()
  case $t in
    fuzz_client_hello | fuzz_cookie_verify) dict=(-dict=fuzz/dtls.dict) ;;
    fuzz_agent_config) dict=(-dict=fuzz/agent_config.dict) ;;
  esac

  log=$logs/$t.corpus.log
  nseeds=$(find "$seeds" -type f | wc -l)
  echo "== $t: $nseeds seed files, each once"
  if ! "$bin" "${limits[@]}" -artifact_prefix="$crashes/" \
    "$seeds"/* >"$log" 2>&1; then
    report_failure "$t" "$log" "corpus run"
    continue
  fi
  ((fuzz_time > 0)) || continue

  log=$logs/$t.fuzz.log
  echo "== $t: fuzzing for ${fuzz_time}s"
  # The outer timeout is a backstop only: -max_total_time ends the run.
  if ! timeout --signal=INT $((fuzz_time + 120)) "$bin" "${limits[@]}" \
    -max_total_time="$fuzz_time" -artifact_prefix="$crashes/" "${dict[@]}" \
    "$work" "$seeds" >"$log" 2>&1; then
    report_failure "$t" "$log" "fuzzing"
    continue
  fi
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-22s %10s %8s %6s %6s %6s' "$t" \
    "$(stat number_of_executed_units "$log")" \
    "$(stat average_exec_per_sec "$log")" "$cov" "$ft" \
    "$(find "$work" -type f | wc -l)")")
done

if ((${#summary[@]})); then
  printf '\n%-22s %10s %8s %6s %6s %6s\n' target execs exec/s cov ft corpus
  printf '%s\n' "${summary[@]}"
fi
if ((${#failed[@]})); then
  printf '\nfuzz.sh: FAILED\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${#targets[@]} target(s)"
