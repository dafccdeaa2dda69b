# Helpers for the shell tests of the dtls-cookie command line: a scratch
# directory with its own bpffs, veth pairs whose peer ends sit in a network
# namespace of the test, assertions on exit codes and messages. Source it.
# shellcheck shell=bash

T=           # scratch directory; $T/bpffs is a bpffs mounted for the test
PIN=         # the --pin-dir every command gets
ID=          # unique suffix of every name the test makes
NS=          # the namespace that holds the peer ends
IFACES=()    # root-namespace ends of the veth pairs made so far
FAILS=0

cli_cleanup() {
  local i
  for i in "${IFACES[@]}"; do ip link del "$i" 2>/dev/null; done
  [[ -n $NS ]] && ip netns del "$NS" 2>/dev/null
  # Unmounting the bpffs drops the pins, so even a failed test leaves no
  # program attached once its interfaces are gone.
  if [[ -n $T ]]; then
    mountpoint -q "$T/bpffs" && umount -l "$T/bpffs"
    rm -rf "$T"
  fi
  return 0
}

# cli_setup: the scratch directory, the bpffs and the namespace; $DC is the
# dtls-cookie binary.
cli_setup() {
  [[ $(id -u) == 0 ]] || { echo "needs root"; exit 1; }
  [[ -x $DC ]] || { echo "no executable $DC"; exit 1; }
  ID=$(printf '%04x%02x' $(($$ & 0xffff)) $((RANDOM & 0xff)))
  T=$(mktemp -d "${TMPDIR:-/tmp}/dc-agent-test.XXXXXX")
  trap cli_cleanup EXIT
  mkdir "$T/bpffs"
  mount -t bpf bpf "$T/bpffs"
  PIN=$T/bpffs/dtls-cookie
  NS=dcns-$ID
  ip netns add "$NS"
}

# new_veth NAME [ADDR...]: a veth pair, NAME in this namespace (up, with the
# addresses), its peer in $NS (down: no frame reaches NAME, so the counters
# hold only what a test sends through BPF_PROG_TEST_RUN).
new_veth() {
  local name=$1 a
  shift
  ip link add "$name" type veth peer name "p$name" netns "$NS"
  IFACES+=("$name")
  for a in "$@"; do
    if [[ $a == *:* ]]; then
      ip addr add "$a" dev "$name" nodad
    else
      ip addr add "$a" dev "$name"
    fi
  done
  ip link set "$name" up
}

# dc SUBCOMMAND ARGS...: the agent on the test's pin directory.
dc() {
  local sub=$1
  shift
  "$DC" "$sub" --pin-dir "$PIN" "$@"
}

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

pass() { echo "ok: $*"; }

# expect_exit CODE PATTERN CMD...: CMD exits with CODE and its stderr
# contains PATTERN (grep -E).
expect_exit() {
  local code=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  if [[ $rc != "$code" ]]; then
    fail "exit $rc, not $code: $*"
    sed 's/^/  stderr: /' "$T/err" >&2
  elif ! grep -qE -- "$pattern" "$T/err"; then
    fail "stderr lacks /$pattern/: $*"
    sed 's/^/  stderr: /' "$T/err" >&2
  else
    pass "exit $code /$pattern/: $*"
  fi
}

# expect_ok CMD...: CMD succeeds; its stdout is left in $T/out.
expect_ok() {
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  if [[ $rc != 0 ]]; then
    fail "exit $rc: $*"
    sed 's/^/  stderr: /' "$T/err" >&2
  else
    pass "$*"
  fi
}

# xdp_prog IF: the id of the XDP program on IF, empty when none.
xdp_prog() {
  ip -d link show dev "$1" | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p'
}

# json EXPR: evaluates a Python expression over the JSON in $T/out (as d).
json() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$T/out" "$1"
}

# gens: "(current, previous)" key generations of a status --json in $T/out.
gens() {
  json '(d["keys"]["current"]["generation"],
         (d["keys"]["previous"] or {}).get("generation"))'
}

# check_eq WHAT GOT WANT
check_eq() {
  if [[ $2 == "$3" ]]; then pass "$1 = $3"; else fail "$1 is '$2', not '$3'"; fi
}

# nothing_left IF...: no pin directory and no XDP program on any IF.
nothing_left() {
  local i
  if [[ -e $PIN ]]; then
    fail "$PIN still exists: $(ls "$PIN" | tr '\n' ' ')"
  else
    pass "nothing pinned"
  fi
  for i in "$@"; do
    if [[ -n $(xdp_prog "$i") ]]; then
      fail "$i still carries XDP program $(xdp_prog "$i")"
    else
      pass "no XDP on $i"
    fi
  done
}

cli_finish() {
  if ((FAILS)); then
    echo "$FAILS check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
