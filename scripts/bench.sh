#!/usr/bin/env bash
# The benchmark suite in one run: the XDP responder's in-kernel cost
# (bench_xdp), the cookie functions against libgnutls (bench_cookie) and
# the end-to-end veth benchmark (bench/e2e). Prints one table of the key
# figures and their bars and writes every figure to one JSON file.
set -euo pipefail

usage() {
  cat <<EOF
usage: scripts/bench.sh [--quick] [--json FILE] [--logs DIR] [--only LIST]
                        [--no-build]

Runs bench_xdp, bench_cookie and bench/e2e/bench_e2e.sh (as root) and
prints one table; each tool's own report goes to DIR (--logs).

options:
  --quick       short runs of each (under a minute in all)
  --json FILE   every figure, one field each, prefixed xdp_, cookie_, e2e_
                (default: bench-results.json)
  --logs DIR    keep each tool's full output and raw figures in DIR
  --only LIST   a comma-separated subset of xdp,cookie,e2e
  --no-build    use the build as it is (default: build it first)

Build directory: \$BUILD_DIR or build.

example:
  sudo scripts/bench.sh --quick --json /tmp/bench.json
      the whole suite in under a minute, figures in /tmp/bench.json
EOF
}

quick=0 json=bench-results.json logs= only=xdp,cookie,e2e build_first=1
while (($#)); do
  case $1 in
  --quick) quick=1 ;;
  --json) json=$2 && shift ;;
  --logs) logs=$2 && shift ;;
  --only) only=$2 && shift ;;
  --no-build) build_first=0 ;;
  -h | --help) usage && exit 0 ;;
  *) usage >&2 && exit 2 ;;
  esac
  shift
done
((EUID == 0)) || {
  echo "bench.sh: needs root (BPF_PROG_TEST_RUN, namespaces)" >&2
  exit 77
}
[[ $json == /* ]] || json=$PWD/$json
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
export BUILD_DIR=$build
if ((build_first)); then scripts/build.sh; fi

tmp=$(mktemp -d /tmp/bench-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=${logs:-$tmp}
mkdir -p "$out"
wants() { [[ ,$only, == *,$1,* ]]; }

start=$SECONDS
if wants xdp; then
  echo "bench_xdp..." >&2
  flags=()
  if ((quick)); then flags=(--quick); fi
  "$build/bench/xdp/bench_xdp" "${flags[@]}" --json "$out/xdp.json" \
    >"$out/xdp.txt"
fi
if wants cookie; then
  echo "bench_cookie..." >&2
  flags=()
  if ((quick)); then
    flags=(--benchmark_repetitions=5 --benchmark_min_time=0.02)
  fi
  "$build/bench/cookie/bench_cookie" "${flags[@]}" --json "$out/cookie.json" \
    >"$out/cookie.txt" 2>&1
fi
if wants e2e; then
  echo "bench_e2e..." >&2
  flags=()
  if ((quick)); then flags=(--quick); fi
  bench/e2e/bench_e2e.sh "${flags[@]}" --build "$build" \
    --json "$out/e2e.json" --raw "$out/e2e.raw.jsonl" >"$out/e2e.txt"
fi
elapsed=$((SECONDS - start))

python3 - "$out" "$json" "$quick" "$elapsed" <<'EOF'
import json, math, os, sys

out, path, quick, elapsed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
merged = {"quick": quick == "1", "seconds": int(elapsed)}
suites = {}
for suite in ("xdp", "cookie", "e2e"):
    f = os.path.join(out, suite + ".json")
    if os.path.exists(f):
        with open(f) as fh:
            suites[suite] = json.load(fh)
        for k, v in suites[suite].items():
            merged[f"{suite}_{k}"] = v
with open(path, "w") as fh:
    json.dump(merged, fh, indent=2)
    fh.write("\n")

# (suite, field, what, unit, bar field or number, bar sense, met field)
rows = [
    ("xdp", "answer_ns", "answer path in the kernel", "ns", None, "", None),
    ("xdp", "reflector_ns", "reflector in the kernel", "ns", None, "", None),
    ("xdp", "answer_ratio", "answer / reflector", "x", "answer_bar", "<=",
     "answer_meets_bar"),
    ("xdp", "udp_other_port_ratio", "other UDP / XDP_PASS", "x",
     "pass_through_bar", "<=", "udp_other_port_meets_bar"),
    ("xdp", "tcp_ratio", "TCP / XDP_PASS", "x", "pass_through_bar", "<=",
     "tcp_meets_bar"),
    ("xdp", "reply_limit_cost_ns", "reply rate limit, per answer", "ns", None,
     "", None),
    ("xdp", "answer_limit_on_off_ratio", "answer: limit on / off", "x", None,
     "", None),
    ("xdp", "rate_limited_vs_answer_ratio", "rate-limited drop / answer", "x",
     None, "", None),
    ("cookie", "siphash_send_ns", "cookie_send, SipHash", "ns", None, "", None),
    ("cookie", "libgnutls_send_ns", "gnutls_dtls_cookie_send", "ns", None, "",
     None),
    ("cookie", "send_ratio_vs_gnutls", "send: libgnutls / SipHash", "x", "bar",
     ">=", None),
    ("cookie", "verify_ratio_vs_gnutls", "verify: libgnutls / SipHash", "x",
     "bar", ">=", None),
    ("cookie", "verify_bad_ratio_vs_gnutls", "bad cookie: libgnutls / SipHash",
     "x", "bar", ">=", None),
    ("e2e", "xdp_answered_pps", "a XDP responder", "Mpps", None, "", None),
    ("e2e", "reflector_answered_pps", "b XDP reflector", "Mpps", None, "",
     None),
    ("e2e", "gnutls_answered_pps", "c userspace GnuTLS", "Mpps", None, "",
     None),
    ("e2e", "siphash_answered_pps", "d userspace SipHash", "Mpps", None, "",
     None),
    ("e2e", "openssl_answered_pps", "e userspace OpenSSL", "Mpps", None, "",
     None),
    ("e2e", "ratio_xdp_vs_reflector", "a / b", "x", "bar_xdp_vs_reflector",
     ">=", "xdp_vs_reflector_meets_bar"),
    ("e2e", "ratio_xdp_vs_gnutls", "a / c", "x", "bar_xdp_vs_gnutls", ">=",
     "xdp_vs_gnutls_meets_bar"),
    ("e2e", "ratio_reflector_vs_gnutls", "b / c (the lab's ceiling of a / c)",
     "x", None, "", None),
    ("e2e", "ratio_xdp_vs_reflector_uncontended", "a / b, no other tasks (est.)",
     "x", None, "", None),
    ("e2e", "ratio_xdp_vs_gnutls_uncontended", "a / c, no other tasks (est.)",
     "x", None, "", None),
    ("e2e", "ratio_xdp_vs_siphash", "a / d", "x", None, "", None),
    ("e2e", "ratio_xdp_vs_openssl", "a / e", "x", None, "", None),
    ("e2e", "scaling_1cpu_answered_pps", "XDP, 2 queues, 1 CPU", "Mpps", None,
     "", None),
    ("e2e", "scaling_2cpu_answered_pps", "XDP, 2 queues, 2 CPUs", "Mpps", None,
     "", None),
    ("e2e", "ratio_scaling_2cpu_vs_1cpu", "2 CPUs / 1 CPU", "x", "bar_scaling",
     ">=", "scaling_meets_bar"),
    ("e2e", "ratio_scaling_2cpu_vs_1cpu_uncontended",
     "2 CPUs / 1 CPU, no other tasks (est.)", "x", None, "", None),
]

def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and \
        not (isinstance(v, float) and math.isnan(v))

print(f"{'suite':7} {'figure':38} {'value':>8} {'unit':4} {'bar':>7}  verdict")
missed = 0
for suite, field, what, unit, bar, sense, met in rows:
    s = suites.get(suite)
    if s is None or field not in s:
        continue
    v = s[field]
    if not num(v):
        text = "-"
    elif unit == "Mpps":
        text = f"{v / 1e6:.3f}"
    else:
        text = f"{v:.2f}"
    bar_text, verdict = "", ""
    if bar is not None and num(s.get(bar)) and num(v):
        b = s[bar]
        ok = s[met] if met and met in s else (v >= b if sense == ">=" else v <= b)
        bar_text = f"{sense} {b:g}"
        verdict = "meets" if ok else "MISSES"
        missed += not ok
    print(f"{suite:7} {what:38} {text:>8} {unit:4} {bar_text:>7}  {verdict}")
e2e = suites.get("e2e", {})
noisy = [k for k, v in e2e.items()
         if k.endswith("wait_share") and num(v) and v > 0.05]
if noisy:
    print("warning: other tasks held the benchmark's CPUs over 5% of the time "
          f"({', '.join(k[:-len('_wait_share')] for k in noisy)}); "
          "those figures are low")
print(f"{missed} bar(s) missed; {int(elapsed)} s; every figure in {path}")
EOF
