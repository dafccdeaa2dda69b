# Shell helpers for integration tests that run the example DTLS servers
# against real clients: scratch directory, certificate, secret, ports,
# server start and stop, and one echo exchange through a client.
# Source it; it sets no shell options of its own.
# shellcheck shell=bash
# shellcheck disable=SC2034 # DC_* globals are read by the scripts

# Every process a test starts, so cleanup ends exactly those.
DC_PIDS=()
DC_WORK=

dc_fail() {
  echo "FAIL: $*" >&2
  return 1
}

dc_require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      dc_fail "$tool is missing (scripts/deps.sh installs it)" || return
  done
}

dc_cleanup() {
  local pid
  for pid in "${DC_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${DC_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $DC_WORK ]]; then rm -rf "$DC_WORK"; fi
}

# A scratch directory removed on exit, with the processes still running.
dc_setup() {
  DC_WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtls-cookie-test.XXXXXX")
  trap dc_cleanup EXIT
}

# dc_make_cert DIR: DIR/cert.pem and DIR/key.pem, a self-signed P-256
# certificate for localhost, 127.0.0.1 and ::1.
dc_make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 1 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout "$1/key.pem" -out "$1/cert.pem" 2>"$1/openssl-req.log" ||
    dc_fail "openssl req: $(cat "$1/openssl-req.log")"
}

# dc_make_secret FILE [BYTES]: a random fleet secret.
dc_make_secret() {
  head -c "${2:-32}" /dev/urandom >"$1"
}

# dc_host_port HOST PORT: HOST:PORT, with brackets around an IPv6 HOST.
dc_host_port() {
  if [[ $1 == *:* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi
}

# dc_pick_udp_port HOST: a UDP port nobody has bound on HOST now, for tests
# that must know the port before the server starts (a server given port 0
# reports its own; dc_start_server reads it back).
dc_pick_udp_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if [[ -z $(ss -Hulpn "sport = :$port" 2>/dev/null) ]]; then
      echo "$port"
      return 0
    fi
  done
  dc_fail "no free UDP port found on $1"
}

# dc_start_server LOG SERVER_BINARY ARGS...: starts the server (at most
# DC_SERVER_TIMEOUT seconds, default 30) with stderr in LOG, waits until it
# listens and sets DC_SERVER_PID and DC_SERVER_PORT.
dc_start_server() {
  local log=$1
  shift
  timeout "${DC_SERVER_TIMEOUT:-30}" "$@" 2>"$log" &
  DC_SERVER_PID=$!
  DC_PIDS+=("$DC_SERVER_PID")
  local line
  for _ in $(seq 50); do
    line=$(grep -m1 ': listening on ' "$log" || true)
    if [[ -n $line ]]; then
      DC_SERVER_PORT=${line##*:}
      return 0
    fi
    if ! kill -0 "$DC_SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  dc_fail "server did not start: $(cat "$log")"
}

# dc_wait_server: waits for the server to exit (it must, after
# --max-clients) and returns its exit code; 124 means it was killed.
dc_wait_server() {
  local rc=0
  wait "$DC_SERVER_PID" || rc=$?
  return "$rc"
}

# dc_client_command CLIENT HOST PORT: the command line of a real client.
# Verbose enough to show the HelloVerifyRequest it received.
dc_client_command() {
  case $1 in
    s_client)
      echo openssl s_client -dtls1_2 -msg -connect "$(dc_host_port "$2" "$3")"
      ;;
    gnutls-cli)
      echo gnutls-cli --udp --insecure -d 4 -p "$3" "$2"
      ;;
    *) dc_fail "unknown client $1" ;;
  esac
}

# dc_client_echo CLIENT HOST PORT LINE OUT: runs CLIENT against the server,
# writes LINE to it and keeps its input open until LINE comes back (at most
# DC_CLIENT_WAIT seconds, default 10), then closes it so the client says
# goodbye. Client output goes to OUT.stdout and OUT.stderr. Returns the
# client's exit code, or 1 when LINE did not come back.
dc_client_echo() {
  local client=$1 host=$2 port=$3 line=$4 out=$5
  local command
  command=$(dc_client_command "$client" "$host" "$port") || return
  mkfifo "$out.stdin"
  # The command is split into words on purpose; DC_CLIENT_WRAP runs the
  # client elsewhere, e.g. "ip netns exec NS".
  # shellcheck disable=SC2086
  timeout "$((${DC_CLIENT_WAIT:-10} + 5))" ${DC_CLIENT_WRAP:-} $command \
    <"$out.stdin" \
    >"$out.stdout" 2>"$out.stderr" &
  local pid=$!
  DC_PIDS+=("$pid")
  local input
  exec {input}>"$out.stdin"
  printf '%s\n' "$line" >&"$input"
  local echoed=0
  for _ in $(seq "$((${DC_CLIENT_WAIT:-10} * 10))"); do
    if grep -qxF -- "$line" "$out.stdout"; then
      echoed=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  exec {input}>&-
  local rc=0
  wait "$pid" || rc=$?
  if ((!echoed)) && grep -qxF -- "$line" "$out.stdout"; then echoed=1; fi
  ((echoed)) || dc_fail "$client: '$line' did not come back" || return
  return "$rc"
}

# dc_saw_hello_verify_request CLIENT OUT COOKIE_LEN: whether the client's
# verbose output shows a HelloVerifyRequest carrying a COOKIE_LEN-byte cookie.
dc_saw_hello_verify_request() {
  local body_len=$((2 + 1 + $3))
  case $1 in
    s_client)
      # -msg dumps the handshake message: type 3, its length, message_seq,
      # fragment, then server_version and the cookie length.
      local hex
      hex=$(printf '03 00 00 %02x 00 00 00 00 00 00 00 %02x fe f[fd] %02x' \
        "$body_len" "$body_len" "$3")
      grep -q "^    $hex" "$2.stdout"
      ;;
    gnutls-cli)
      grep -q "HELLO VERIFY REQUEST (3) was received. Length $body_len\[" \
        "$2.stderr"
      ;;
  esac
}
