#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root: installs what is
# missing, builds, then builds a veth lab (a client and a server namespace),
# attaches the XDP responder on the server side, runs one real
# openssl s_client handshake through it to the GnuTLS example server, prints
# what happened and the responder's counters, and removes the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
build=$(pwd)/${BUILD_DIR:-build}
agent=$build/userspace/agent/dtls-cookie
server=$build/userspace/examples/dtls-cookie-gnutls-server

source tests/integration/lib.sh
source tests/integration/lab.sh
lab_setup
port=4433

lab_up "$DC_WORK" "$build/bpf/xdp_pass.bpf.o"
echo "lab: client $LAB_CLI4 in netns $LAB_CLI_NS, server $LAB_SRV4 in" \
  "netns $LAB_SRV_NS, joined by veth $LAB_CLI_IF <-> $LAB_SRV_IF"
lab_srv "$agent" attach --iface "$LAB_SRV_IF" --port "$port" \
  --pin-dir "$LAB_PIN_DIR"
dc_make_cert "$DC_WORK"
dc_start_server "$DC_WORK/server.log" ip netns exec "$LAB_SRV_NS" "$server" \
  --listen "$LAB_SRV4:$port" --cert "$DC_WORK/cert.pem" \
  --key "$DC_WORK/key.pem" --pin-dir "$LAB_PIN_DIR" --max-clients 1
echo "server: dtls-cookie-gnutls-server on $LAB_SRV4:$port, verifying" \
  "cookies with the responder's live keys"
echo "client: openssl s_client -dtls1_2 sends a line through the lab"
DC_CLIENT_WRAP="ip netns exec $LAB_CLI_NS" \
  dc_client_echo s_client "$LAB_SRV4" "$port" "hello through XDP" \
  "$DC_WORK/client"
dc_wait_server
if dc_saw_hello_verify_request s_client "$DC_WORK/client" 12; then
  echo "client: got a HelloVerifyRequest with a 12-byte cookie, sent the" \
    "cookie back, completed the handshake, and the line came back"
fi
sed 's/^/server log: /' "$DC_WORK/server.log"
echo
lab_srv "$agent" stats --pin-dir "$LAB_PIN_DIR"
echo
echo "answered_no_cookie: the cookie-less ClientHello answered in XDP;"
echo "valid_cookie_current: the second ClientHello passed to the server;"
echo "established: the DTLS records of the session that followed."
lab_srv "$agent" detach --iface "$LAB_SRV_IF" --pin-dir "$LAB_PIN_DIR"
echo "lab removed"
