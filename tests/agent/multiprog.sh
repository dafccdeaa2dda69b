#!/usr/bin/env bash
# The responder beside another XDP program through libxdp's dispatcher
# (attach --multiprog), as root on veth pairs whose peers sit in a namespace
# with XDP_PASS, with a bpffs of the test's own that the agent, libxdp and
# xdp-loader all use (LIBXDP_BPFFS). A counting program loaded with
# xdp-loader is the other tenant: it must keep seeing the datagrams the
# responder passes while ClientHellos are answered. What the kernel allows
# decides what must happen: without freplace programs (which the dispatcher
# is made of) libxdp attaches single programs alone and --multiprog must be
# refused, saying why and what to do, with nothing changed.
# Usage: multiprog.sh DTLS_COOKIE XDP_PASS_OBJECT GNUTLS_SERVER OPENSSL_SERVER
#        PINNED_KEYS_TOOL XDP_COUNT_OBJECT
set -uo pipefail
DC=$1
PASS_OBJ=$2
COUNT_OBJ=$6
HERE=$(cd "$(dirname "$0")" && pwd)
HELLO=$HERE/../data/client-hellos/openssl-dtls1_2.first.bin
# shellcheck source=cli_lib.sh
source "$HERE/cli_lib.sh"
cli_setup
command -v xdp-loader >/dev/null || {
  echo "no xdp-loader (Debian package xdp-tools)"
  exit 1
}
[[ -f $COUNT_OBJ ]] || { echo "no $COUNT_OBJ"; exit 1; }
export LIBXDP_BPFFS=$T/bpffs

# lab_veth NAME ADDR PEER_ADDR: NAME here with ADDR, its peer in $NS with
# PEER_ADDR and XDP_PASS (veth hands XDP_TX frames only to a peer with an
# XDP program). /30s inside 192.0.2.0/24, which other tests use as /24.
lab_veth() {
  ip link add "$1" type veth peer name "p$1" netns "$NS"
  IFACES+=("$1")
  ip addr add "$2" dev "$1"
  ip -n "$NS" addr add "$3" dev "p$1"
  ip link set "$1" up
  ip -n "$NS" link set "p$1" up
  ip -n "$NS" link set dev "p$1" xdpdrv obj "$PASS_OBJ" sec xdp
}

A=dca$ID
B=dcb$ID
lab_veth "$A" 192.0.2.129/30 192.0.2.130/30
lab_veth "$B" 192.0.2.133/30 192.0.2.134/30

# count_of DIR: what the counting program whose maps xdp-loader pinned in
# DIR has counted.
count_of() {
  bpftool -j map lookup pinned "$1/count_udp" key 0 0 0 0 | python3 -c '
import json, sys
v = json.load(sys.stdin)["value"]
print(int.from_bytes(bytes(int(b, 16) for b in v), "little"))'
}

# send_udp SERVER: one datagram that is not DTLS, from the namespace to
# SERVER port 7777, which the counting program counts.
send_udp() {
  ip netns exec "$NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"not dtls", (sys.argv[1], 7777))' "$1"
}

# counted DIR SERVER WHAT: one datagram to SERVER raises DIR's count by one
# (within 2 s).
counted() {
  local before after i
  before=$(count_of "$1")
  send_udp "$2"
  for ((i = 0; i < 20; i++)); do
    after=$(count_of "$1")
    ((after > before)) && break
    sleep 0.1
  done
  check_eq "$3: the counting program's count" "$after" "$((before + 1))"
}

# answered SERVER CLIENT WHAT: a cookie-less ClientHello from CLIENT is
# answered with a HelloVerifyRequest.
answered() {
  if ip netns exec "$NS" python3 "$HERE/dtls_client.py" hello \
    --server "$1" --port 4433 --bind "$2:40$((RANDOM % 900 + 100))" \
    --client-hello "$HELLO" --cookie-file "$T/cookie" >"$T/client" 2>&1; then
    pass "$3: ClientHello answered ($(cat "$T/client"))"
  else
    fail "$3: ClientHello not answered: $(cat "$T/client")"
  fi
}

# loader_has IF NAME [PRIO]: xdp-loader status lists NAME on IF (with
# priority PRIO).
loader_has() {
  xdp-loader status "$1" >"$T/loader" 2>&1
  if grep -Eq -- "${3:+$3 +}$2 " "$T/loader"; then
    pass "xdp-loader status lists $2 on $1${3:+ at priority $3}"
  else
    fail "xdp-loader status lacks $2${3:+ at priority $3} on $1:"
    sed 's/^/  /' "$T/loader" >&2
  fi
}

# The other program goes first, through libxdp.
expect_ok xdp-loader load -m skb -p "$T/bpffs/count-a" "$A" "$COUNT_OBJ"
count_id=$(xdp_prog "$A")
[[ -n $count_id ]] || fail "xdp-loader attached nothing to $A"
loader_has "$A" xdp_count
counted "$T/bpffs/count-a" 192.0.2.129 "xdp_count alone"

# libxdp builds its dispatcher where the kernel loads freplace programs,
# and attaches a program alone where it does not; the agent must tell the
# same from its own probe.
# XXX: the kernel this is tested on (6.18 built without ftrace) loads no
# freplace programs, so only the first branch below has run; the second,
# with a dispatcher, is untried.
if ip -d link show dev "$A" | grep -q "name xdp_dispatcher"; then
  echo "libxdp made a dispatcher: the kernel loads freplace programs"
else
  echo "libxdp attached xdp_count alone: the kernel loads no freplace programs"
  ip -d link show dev "$A" | grep -q "name xdp_count" ||
    fail "$A does not carry xdp_count: $(ip -d link show dev "$A")"
  for extra in "" --replace; do
    expect_exit 1 "loads no freplace \(BPF_PROG_TYPE_EXT\) programs.*Attach without --multiprog to an interface that carries no other XDP program" \
      dc attach --iface "$A" --port 4433 --mode skb --multiprog $extra
    check_eq "xdp_count untouched (--multiprog $extra)" "$(xdp_prog "$A")" \
      "$count_id"
    [[ -e $PIN ]] && fail "a refused attach left $PIN"
  done
  counted "$T/bpffs/count-a" 192.0.2.129 "after the refusals"
  expect_exit 1 "$A already carries XDP program 'xdp_count' \(id $count_id, skb mode\): dtls-cookie does not replace it unless --replace" \
    dc attach --iface "$A" --port 4433 --mode skb

  # The other order: the responder first, then xdp-loader, whose libxdp
  # cannot put a dispatcher where a program runs alone.
  expect_ok dc attach --iface "$B" --port 4433 --mode skb
  ours=$(xdp_prog "$B")
  answered 192.0.2.133 192.0.2.134 "responder alone"
  if xdp-loader load -m skb -p "$T/bpffs/count-b" "$B" "$COUNT_OBJ" \
    >"$T/out" 2>&1; then
    fail "xdp-loader load beside the responder succeeded: $(cat "$T/out")"
  else
    pass "xdp-loader load refused beside the responder"
    grep -q "not using a dispatcher" "$T/out" ||
      fail "xdp-loader's refusal does not say why: $(cat "$T/out")"
  fi
  check_eq "the responder stays on $B" "$(xdp_prog "$B")" "$ours"
  answered 192.0.2.133 192.0.2.134 "after xdp-loader's refusal"
  expect_ok dc status --json
  check_eq "status mode" "$(json 'd["interfaces"][0]["mode"]')" skb
  expect_ok dc detach --iface "$B"
  expect_ok xdp-loader unload -a "$A"
  nothing_left "$A" "$B"
  cli_finish
  exit
fi

if ! dc attach --iface "$A" --port 4433 --mode skb --multiprog \
  >"$T/out" 2>"$T/err"; then
  # Linux 6.13 and later refuse an extension that changes packet data in
  # place of a slot that does not; the dispatcher of older libxdp has such
  # slots, and the responder shrinks the frames it answers.
  if grep -q "from Linux 6.13 on the kernel refuses an extension that changes packet data" \
    "$T/err"; then
    pass "--multiprog refused for packet changes: $(cat "$T/err")"
  else
    fail "--multiprog failed: $(cat "$T/err")"
  fi
  check_eq "the dispatcher untouched" "$(xdp_prog "$A")" "$count_id"
  [[ -e $PIN ]] && fail "a refused attach left $PIN"
  counted "$T/bpffs/count-a" 192.0.2.129 "after the refusal"
  expect_ok xdp-loader unload -a "$A"
  nothing_left "$A" "$B"
  cli_finish
  exit
fi
pass "attach --multiprog beside xdp_count"
loader_has "$A" dc_responder 20
loader_has "$A" xdp_count 50
expect_ok dc status --json
check_eq "status mode" "$(json 'd["interfaces"][0]["mode"]')" multiprog
check_eq "status XDP mode" "$(json 'd["interfaces"][0]["xdp_mode"]')" skb
check_eq "status programs in run order" \
  "$(json '[(p["name"], p["priority"], p["ours"]) for p in d["interfaces"][0]["programs"]]')" \
  "[('dc_responder', 20, True), ('xdp_count', 50, False)]"
answered 192.0.2.129 192.0.2.130 "beside xdp_count"
counted "$T/bpffs/count-a" 192.0.2.129 "behind the responder"
# A second interface of the same instance, in the other order: the
# responder makes the dispatcher, xdp-loader joins it.
expect_ok dc attach --iface "$B" --port 4433 --mode skb --multiprog
expect_ok xdp-loader load -m skb -p "$T/bpffs/count-b" "$B" "$COUNT_OBJ"
loader_has "$B" dc_responder 20
loader_has "$B" xdp_count 50
answered 192.0.2.133 192.0.2.134 "on $B, dispatcher made by the responder"
counted "$T/bpffs/count-b" 192.0.2.133 "on $B"
expect_ok dc status --json
check_eq "one program on both" \
  "$(json 'len({i["program_id"] for i in d["interfaces"]})')" 1
# Detach leaves the other tenant running.
expect_ok dc detach --iface "$A"
loader_has "$A" xdp_count
counted "$T/bpffs/count-a" 192.0.2.129 "after detach"
# A dispatcher in the other mode is refused with what to do.
expect_exit 1 "runs in skb mode: add --mode skb to join it" \
  dc attach --iface "$A" --port 4433 --mode native --multiprog
expect_ok dc detach --iface "$B"
loader_has "$B" xdp_count
expect_ok xdp-loader unload -a "$A"
expect_ok xdp-loader unload -a "$B"
nothing_left "$A" "$B"
cli_finish
