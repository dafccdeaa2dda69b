#!/usr/bin/env bash
# Captures real DTLS ClientHellos from openssl s_client and gnutls-cli on
# loopback and stores them as fixtures under tests/data/client-hellos/.
# Run by hand when a fixture must be renewed; the tests only read the files.
#
# For each client a UDP listener on 127.0.0.1 stores the first ClientHello,
# answers it with a GnuTLS-format HelloVerifyRequest whose cookie is
# HMAC-SHA1(cookie-key.bin, client-data)[:16], and stores the second
# ClientHello, which carries that cookie. client-data is the struct
# sockaddr_in the listener saw the client from, as the GnuTLS examples pass
# it. Files written per client NAME:
#   NAME.first.bin        the first ClientHello datagram (no cookie)
#   NAME.second.bin       the ClientHello that echoes the cookie
#   NAME.client-data.bin  the client's struct sockaddr_in (Linux layout)
# plus cookie-key.bin, the fixed 16-byte HMAC key shared by all of them.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/tests/data/client-hellos}
mkdir -p "$out"

for tool in openssl gnutls-cli python3 timeout; do
  command -v "$tool" >/dev/null || {
    echo "capture-client-hellos: $tool is missing" \
      "(apt-get install openssl gnutls-bin python3 coreutils)" >&2
    exit 1
  }
done

work=$(mktemp -d)
listener_pid=
cleanup() {
  if [[ -n $listener_pid ]]; then kill "$listener_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A fixed key, so that the tests can check the captured cookies against a
# MAC computed independently of the capture.
printf 'fixture-key-0001' >"$out/cookie-key.bin"

cat >"$work/listener.py" <<'EOF'
# One capture: two ClientHellos from one client, a HelloVerifyRequest in
# between. Bounded by a 10 s socket timeout and two datagrams.
import hmac, hashlib, socket, struct, sys

name, out, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
key = open(f"{out}/cookie-key.bin", "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(10)
with open(port_file, "w") as f:
    f.write(str(s.getsockname()[1]))

def is_client_hello(d):
    return len(d) > 25 and d[0] == 22 and d[13] == 1

first, peer = s.recvfrom(65535)
while not is_client_hello(first):
    first, peer = s.recvfrom(65535)
# struct sockaddr_in on Linux: family in host order (little endian here),
# port and address in network order, 8 bytes of zero padding.
client_data = (struct.pack("<H", socket.AF_INET) + struct.pack("!H", peer[1])
               + socket.inet_aton(peer[0]) + bytes(8))
cookie = hmac.new(key, client_data, hashlib.sha1).digest()[:16]
# 44-byte HelloVerifyRequest in GnuTLS's layout: version FEFF, epoch 0, the
# ClientHello's low sequence byte, message_seq 0, cookie length 16.
hvr = (bytes([22, 0xFE, 0xFF]) + bytes(7) + first[10:11] + struct.pack("!H", 31)
       + bytes([3]) + (19).to_bytes(3, "big") + bytes(2) + bytes(3)
       + (19).to_bytes(3, "big") + bytes([0xFE, 0xFF, 16]) + cookie)
assert len(hvr) == 44
s.sendto(hvr, peer)
for _ in range(8):
    second, peer2 = s.recvfrom(65535)
    # A retransmitted first ClientHello carries no cookie: skip it.
    if peer2 == peer and is_client_hello(second) and second != first:
        break
else:
    sys.exit(f"{name}: no second ClientHello")
open(f"{out}/{name}.first.bin", "wb").write(first)
open(f"{out}/{name}.second.bin", "wb").write(second)
open(f"{out}/{name}.client-data.bin", "wb").write(client_data)
print(f"{name}: first {len(first)} bytes, second {len(second)} bytes")
EOF

# capture NAME CLIENT-COMMAND... ; the string PORT in the command is
# replaced by the listener's port.
capture() {
  local name=$1
  shift
  rm -f "$work/port"
  python3 "$work/listener.py" "$name" "$out" "$work/port" &
  listener_pid=$!
  for _ in $(seq 50); do
    [[ -s $work/port ]] && break
    sleep 0.1
  done
  local port
  port=$(cat "$work/port")
  local args=("${@//PORT/$port}")
  # The client never completes a handshake; the listener exits after the
  # second ClientHello and the timeout ends the client.
  timeout 5 "${args[@]}" </dev/null >"$work/$name.log" 2>&1 || true
  if wait "$listener_pid"; then
    listener_pid=
  else
    listener_pid=
    echo "capture-client-hellos: $name failed; client log:" >&2
    cat "$work/$name.log" >&2
    return 1
  fi
}

capture openssl-dtls1_2 openssl s_client -dtls1_2 -connect 127.0.0.1:PORT
# DTLS 1.0 only negotiates SHA-1 based suites: allow them explicitly.
capture openssl-dtls1_0 openssl s_client -dtls1 \
  -cipher 'DEFAULT:@SECLEVEL=0' -connect 127.0.0.1:PORT
capture gnutls-dtls1_2 gnutls-cli --udp --insecure -p PORT 127.0.0.1
capture gnutls-dtls1_0 gnutls-cli --udp --insecure \
  --priority 'NORMAL:-VERS-ALL:+VERS-DTLS1.0' -p PORT 127.0.0.1

ls -l "$out"
