#!/usr/bin/env bash
# Real DTLS handshakes through the XDP responder on a veth pair, as root:
# unmodified openssl s_client and gnutls-cli against both example servers
# over IPv4 and IPv6, a key rotation between the HelloVerifyRequest and the
# second ClientHello, a replayed stale cookie, and a clean detach.
#
# Where the captures are taken: frames the responder sends with XDP_TX never
# pass the server's network stack, so no capture in the server namespace can
# see them. The client-side capture shows the HelloVerifyRequests; the
# server-side capture shows what reached the server's stack: it must hold no
# cookie-less ClientHello and no HelloVerifyRequest of the server's own.
#
# usage: xdp_handshake.sh --mode native|skb --agent BIN --pass-obj OBJ
#                         --gnutls-server BIN --openssl-server BIN
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=lab.sh
source "$here/lab.sh"

mode=native
while (($#)); do
  case $1 in
    --mode) mode=$2 ;;
    --agent) agent_bin=$2 ;;
    --pass-obj) pass_obj=$2 ;;
    --gnutls-server) gnutls_server=$2 ;;
    --openssl-server) openssl_server=$2 ;;
    *) dc_fail "unknown argument $1"; exit 2 ;;
  esac
  shift 2
done
dc_require_tools openssl gnutls-cli tcpdump nft python3 ip timeout

LAB_ON_EXIT='lab_cli nft delete table netdev dchold 2>/dev/null'
lab_setup

lab_up "$DC_WORK" "$pass_obj"
dc_make_cert "$DC_WORK"
port=4433
failures=0

agent() {
  local cmd=$1
  shift
  lab_srv "$agent_bin" "$cmd" --pin-dir "$LAB_PIN_DIR" "$@"
}

# counter NAME: one counter of the responder, summed over CPUs.
counter() {
  agent stats --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' \
    "$1"
}

# counters: all of them, as "name=value" words, to diff before and after.
snapshot() {
  agent stats --json | python3 -c \
    'import json,sys; [print(f"{k}={v}") for k,v in json.load(sys.stdin)["counters"].items()]'
}

# delta NAME BEFORE AFTER: how much counter NAME grew between snapshots.
delta() {
  local before after
  before=$(grep "^$1=" <<<"$2" | cut -d= -f2)
  after=$(grep "^$1=" <<<"$3" | cut -d= -f2)
  echo $((after - before))
}

# expect WHAT GOT WANT
expect() {
  if [[ $2 != "$3" ]]; then
    echo "FAIL [$mode] $1: got $2, want $3" >&2
    failures=$((failures + 1))
  fi
}

# capture_start NS IF FILE: tcpdump on IF in NS; sets CAPTURE_PID.
capture_start() {
  # --immediate-mode: without it frames wait in the capture ring for up to
  # a second, and the ones still there when tcpdump stops are lost.
  ip netns exec "$1" tcpdump -i "$2" --immediate-mode -U -n -w "$3" \
    "udp port $port" \
    2>"$3.log" &
  CAPTURE_PID=$!
  DC_PIDS+=("$CAPTURE_PID")
  for _ in $(seq 50); do
    grep -q "listening on" "$3.log" 2>/dev/null && return 0
    sleep 0.1
  done
  dc_fail "tcpdump did not start: $(cat "$3.log")"
}

capture_stop() {
  sleep 0.2 # let the last frames reach the file
  # SIGTERM: a background job of a script ignores SIGINT. tcpdump flushes
  # and closes its file on either.
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# json_get JSON EXPR: a value out of a pcap_dtls.py summary.
json_get() {
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"
}

server_bin() {
  case $1 in
    gnutls) echo "$gnutls_server" ;;
    openssl) echo "$openssl_server" ;;
  esac
}

echo "[$mode] attaching the responder to $LAB_SRV_IF"
agent attach --iface "$LAB_SRV_IF" --port "$port" --mode "$mode" >/dev/null
# ip link shows the attach mode after the MTU: xdp (driver) or xdpgeneric.
if [[ $mode == native ]]; then want_mode=xdp; else want_mode=xdpgeneric; fi
lab_srv ip link show "$LAB_SRV_IF" | grep -Eq "mtu [0-9]+ $want_mode " ||
  dc_fail "$LAB_SRV_IF does not carry the program in $mode mode"

# One handshake and one echoed line per server, client and address family.
last_cli_summary=
for server in ${DC_XDP_SERVERS:-gnutls openssl}; do
  for client in ${DC_XDP_CLIENTS:-s_client gnutls-cli}; do
    for host in "$LAB_SRV4" "$LAB_SRV6"; do
      name="$server-$client-${host//:/_}"
      out=$DC_WORK/$name
      before=$(snapshot)
      capture_start "$LAB_SRV_NS" "$LAB_SRV_IF" "$out.srv.pcap"
      srv_cap=$CAPTURE_PID
      capture_start "$LAB_CLI_NS" "$LAB_CLI_IF" "$out.cli.pcap"
      cli_cap=$CAPTURE_PID

      dc_start_server "$out.server.log" ip netns exec "$LAB_SRV_NS" \
        "$(server_bin "$server")" --listen "$(dc_host_port "$host" "$port")" \
        --cert "$DC_WORK/cert.pem" --key "$DC_WORK/key.pem" \
        --pin-dir "$LAB_PIN_DIR" --max-clients 1
      rc=0
      DC_CLIENT_WRAP="ip netns exec $LAB_CLI_NS" \
        dc_client_echo "$client" "$host" "$port" "hello through xdp $name" \
        "$out" || rc=$?
      expect "$name: client exit code" "$rc" 0
      rc=0
      dc_wait_server || rc=$?
      expect "$name: server exit code" "$rc" 0
      capture_stop "$cli_cap"
      capture_stop "$srv_cap"
      after=$(snapshot)

      cli=$("$here/pcap_dtls.py" "$out.cli.pcap" "$port")
      srv=$("$here/pcap_dtls.py" "$out.srv.pcap" "$port")
      last_cli_summary=$cli
      hvr=$(json_get "$cli" 'd["from_server"].get("hello_verify_request", 0)')
      expect "$name: HelloVerifyRequests seen by the client ($cli)" "$hvr" 1
      [[ -n ${DC_DEBUG_DIR:-} ]] && cp "$out".* "$DC_DEBUG_DIR"/
      expect "$name: cookie-less ClientHellos reaching the server" \
        "$(json_get "$srv" 'd["to_server"].get("client_hello_no_cookie", 0)')" 0
      expect "$name: HelloVerifyRequests from the server's stack" \
        "$(json_get "$srv" 'd["from_server"].get("hello_verify_request", 0)')" 0
      with_cookie=$(json_get "$srv" \
        'd["to_server"].get("client_hello_cookie", 0)')
      expect "$name: ClientHellos with a cookie reaching the server" \
        "$((with_cookie >= 1))" 1
      expect "$name: answered_no_cookie agrees with the capture" \
        "$(delta answered_no_cookie "$before" "$after")" "$hvr"
      expect "$name: xdp_tx agrees with the capture" \
        "$(delta xdp_tx "$before" "$after")" "$hvr"
      expect "$name: valid_cookie_current agrees with the capture" \
        "$(delta valid_cookie_current "$before" "$after")" "$with_cookie"
      expect "$name: application data passed as established" \
        "$(($(delta established "$before" "$after") >= 1))" 1
      dc_saw_hello_verify_request "$client" "$out" 12 ||
        expect "$name: client saw a 12-byte cookie" no yes
      grep -q "handshake ok" "$out.server.log" ||
        expect "$name: server log" "$(cat "$out.server.log")" "handshake ok"
      echo "[$mode] $name: handshake, echo, 1 HelloVerifyRequest from XDP"
    done
  done
done

# A rotation between the HelloVerifyRequest and the second ClientHello: the
# client's second ClientHello is held back in the client namespace until the
# rotation is done; its retransmission then carries a previous-key cookie.
out=$DC_WORK/rotation
before=$(snapshot)
# The hold sits on the device's egress hook, after the socket has sent:
# dropping in the output hook would fail the client's send() instead.
lab_cli nft -f - <<EOF
table netdev dchold {
  chain egress {
    type filter hook egress device "$LAB_CLI_IF" priority 0;
    udp dport $port @th,64,8 22 @th,168,8 1 @th,544,8 != 0 counter drop
  }
}
EOF
dc_start_server "$out.server.log" ip netns exec "$LAB_SRV_NS" \
  "$gnutls_server" --listen "$(dc_host_port "$LAB_SRV4" "$port")" \
  --cert "$DC_WORK/cert.pem" --key "$DC_WORK/key.pem" \
  --pin-dir "$LAB_PIN_DIR" --max-clients 1
(DC_CLIENT_WRAP="ip netns exec $LAB_CLI_NS" DC_CLIENT_WAIT=20 \
  dc_client_echo gnutls-cli "$LAB_SRV4" "$port" "rotated" "$out") &
client_job=$!
held=0
for _ in $(seq 100); do
  held=$(lab_cli nft -j list table netdev dchold | python3 -c \
    'import json,sys; print(sum(e["counter"]["packets"] for r in json.load(sys.stdin)["nftables"] if "rule" in r for e in r["rule"]["expr"] if "counter" in e))')
  ((held >= 1)) && break
  sleep 0.1
done
expect "rotation: second ClientHello held back" "$((held >= 1))" 1
gen_before=$(agent status --json | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["keys"]["current"]["generation"])')
agent rotate >/dev/null
lab_cli nft delete table netdev dchold
rc=0
wait "$client_job" || rc=$?
expect "rotation: client completed the handshake" "$rc" 0
rc=0
dc_wait_server || rc=$?
expect "rotation: server exit code" "$rc" 0
after=$(snapshot)
expect "rotation: one HelloVerifyRequest" \
  "$(delta answered_no_cookie "$before" "$after")" 1
expect "rotation: the cookie verified under the previous key" \
  "$(($(delta valid_cookie_previous "$before" "$after") >= 1))" 1
expect "rotation: previous generation is the one before" \
  "$(agent status --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["keys"]["previous"]["generation"])')" \
  "$gen_before"
echo "[$mode] rotation between HelloVerifyRequest and second ClientHello: ok"

# A cookie from two rotations ago, replayed from its original address and
# port: answered with a fresh HelloVerifyRequest, never reaching the server.
hello=$(json_get "$last_cli_summary" 'json.dumps(d["cookie_hellos"][-1])')
agent rotate >/dev/null
agent rotate >/dev/null
before=$(snapshot)
capture_start "$LAB_SRV_NS" "$LAB_SRV_IF" "$DC_WORK/replay.srv.pcap"
srv_cap=$CAPTURE_PID
reply=$(lab_cli "$here/replay.py" \
  "$(json_get "$hello" 'd["src"]')" "$(json_get "$hello" 'd["sport"]')" \
  "$LAB_SRV6" "$port" "$(json_get "$hello" 'd["payload"]')")
capture_stop "$srv_cap"
after=$(snapshot)
expect "replay: answered with a HelloVerifyRequest" \
  "$(json_get "$reply" 'd.get("hello_verify_request", False)')" True
expect "replay: answered_bad_cookie" \
  "$(delta answered_bad_cookie "$before" "$after")" 1
# Neighbour discovery may pass meanwhile; no cookie may verify.
expect "replay: cookies verified" \
  "$(($(delta valid_cookie_current "$before" "$after") + \
      $(delta valid_cookie_previous "$before" "$after")))" 0
srv=$("$here/pcap_dtls.py" "$DC_WORK/replay.srv.pcap" "$port")
expect "replay: ClientHellos reaching the server" \
  "$(json_get "$srv" 'sum(d["to_server"].values())')" 0
echo "[$mode] stale cookie replayed: fresh HelloVerifyRequest, server untouched"

# Detach: nothing of ours is left on the interface or in the pin directory.
agent detach --iface "$LAB_SRV_IF" >/dev/null
if lab_srv ip -d link show "$LAB_SRV_IF" | grep -q "prog/xdp"; then
  expect "detach: XDP program left on $LAB_SRV_IF" yes no
fi
left=0
if [[ -d $LAB_PIN_DIR ]]; then
  left=$(find "$LAB_PIN_DIR" -mindepth 1 | wc -l)
fi
expect "detach: pins left behind" "$left" 0
echo "[$mode] detached, nothing left"

if ((failures)); then
  echo "[$mode] $failures check(s) failed" >&2
  exit 1
fi
echo "[$mode] all checks passed"
