#!/usr/bin/env bash
# The end-to-end benchmark: ClientHellos flooded into a veth pair, answered
# by the XDP responder, a reflector and three userspace responders in turn,
# counted where they come back; then the same responder on two queues and
# CPUs. Builds its own namespaces and removes them on exit. Needs root.
set -euo pipefail

usage() {
  cat <<EOF
usage: bench_e2e.sh [--quick] [--json FILE] [--raw FILE] [--rounds N]
                    [--seconds S] [--build DIR] [--gen-cpu N] [--srv-cpu N]
                    [--seed N] [--no-scaling] [--profile DIR]

HelloVerifyRequests answered per second through a veth pair, for the XDP
responder (attached by the agent, native mode), an XDP reflector (the
ceiling), and userspace responders on GnuTLS, this library (SipHash) and
OpenSSL's DTLSv1_listen; same load, same CPUs, interleaved rounds.

options:
  --quick       1 round of 1 s per responder (about 20 s in all)
  --json FILE   write the figures to FILE, one field each
  --raw FILE    keep every run's raw lines (flood output, lab counters)
  --rounds N    rounds, each running every responder once in a shuffled
                order (default 5; runs vary by 20 % from one to
                the next on a shared VM)
  --seconds S   measured window of each run (default 3)
  --build DIR   build directory (default \$BUILD_DIR or build)
  --gen-cpu N   CPU of the load generator, where veth runs XDP (default 0)
  --srv-cpu N   CPU of the userspace responders (default 1)
  --seed N      seed of the per-round order (default 1)
  --no-scaling  skip the one- and two-CPU runs on a two-queue veth
  --profile DIR perf record both CPUs during every run; DIR gets each
                run's top symbols (LABEL-rROUND.txt); perf costs a
                little CPU, so take figures from runs without it

example:
  sudo bench/e2e/bench_e2e.sh --json e2e.json
      full run: table on stdout, figures in e2e.json
EOF
}

quick=0 rounds= seconds= json= raw= scaling=1 seed=1 gen_cpu=0 srv_cpu=1
profile=
build=${BUILD_DIR:-build}
while (($#)); do
  case $1 in
  --quick) quick=1 ;;
  --json) json=$2 && shift ;;
  --raw) raw=$2 && shift ;;
  --rounds) rounds=$2 && shift ;;
  --seconds) seconds=$2 && shift ;;
  --build) build=$2 && shift ;;
  --gen-cpu) gen_cpu=$2 && shift ;;
  --srv-cpu) srv_cpu=$2 && shift ;;
  --seed) seed=$2 && shift ;;
  --no-scaling) scaling=0 ;;
  --profile) profile=$2 && shift ;;
  -h | --help) usage && exit 0 ;;
  *) usage >&2 && exit 2 ;;
  esac
  shift
done
if ((quick)); then
  rounds=${rounds:-1} seconds=${seconds:-1} warmup=0.2
else
  rounds=${rounds:-5} seconds=${seconds:-3} warmup=0.3
fi
drain=0.2
port=4433

root=$(cd "$(dirname "$0")/../.." && pwd)
[[ $build == /* ]] || build=$root/$build
bench=$build/bench/e2e/bench_e2e
agent=$build/userspace/agent/dtls-cookie
pass_obj=$build/bpf/xdp_pass.bpf.o
reflector_obj=$build/bpf/bench/bench_reflector.bpf.o

die() {
  echo "bench_e2e.sh: $*" >&2
  exit 1
}
((EUID == 0)) || {
  echo "bench_e2e.sh: needs root (namespaces, XDP, test_run)" >&2
  exit 77
}
for f in "$bench" "$agent" "$pass_obj" "$reflector_obj"; do
  [[ -e $f ]] || die "missing $f (build first: scripts/build.sh)"
done
if [[ -n $profile ]]; then
  command -v perf >/dev/null || die "--profile needs perf"
  mkdir -p "$profile"
fi
(($(nproc) >= 2)) || die "needs two CPUs: one for the load, one for servers"
((gen_cpu != srv_cpu)) || die "--gen-cpu and --srv-cpu must differ"
stats_enabled=$(sysctl -n kernel.bpf_stats_enabled)
if ((stats_enabled)); then
  # Not switched off here: it belongs to whoever switched it on.
  echo "bench_e2e.sh: warning: kernel.bpf_stats_enabled=1 costs 20-35 ns" \
    "per XDP run; the XDP figures are low" >&2
fi

work=$(mktemp -d /tmp/bench-e2e.XXXXXX)
# Four hex digits: the client end's name must stay short enough for its
# NAPI threads' names to carry it whole (see flood --napi-cpu).
id=$(printf '%04x' $((($$ ^ RANDOM) & 0xffff)))
namespaces=()
serve_pid=
cleanup() {
  local ns
  if [[ -n $serve_pid ]]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if mountpoint -q "$work/bpffs"; then umount "$work/bpffs"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
raw=${raw:-$work/raw.jsonl}
: >"$raw"
mkdir "$work/bpffs"
mount -t bpf bpf "$work/bpffs"

# lab_make N QUEUES: a server and a client namespace joined by a veth with
# QUEUES queues each way. The server routes the flood's source range
# (198.18.0.0/15, RFC 2544's benchmarking range) to the client through a
# permanent neighbour, so no reply waits on ARP. The client namespace also
# holds a veth pair that stays down, where the flood parks its sender.
# Sets srv_ns[N], cli_ns[N], srv_if[N], cli_if[N], park_if[N], srv_mac[N].
declare -A srv_ns cli_ns srv_if cli_if park_if srv_mac
lab_make() {
  local n=$1 queues=$2 s c si ci cmac ns
  s=e2e-srv$n-$id c=e2e-cli$n-$id si=e2s$n$id ci=e2c$n$id
  ip netns add "$s"
  namespaces+=("$s")
  ip netns add "$c"
  namespaces+=("$c")
  ip link add "$si" numtxqueues "$queues" numrxqueues "$queues" netns "$s" \
    type veth peer name "$ci" numtxqueues "$queues" numrxqueues "$queues" \
    netns "$c"
  for ns in "$s" "$c"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip -n "$s" addr add 192.0.2.1/24 dev "$si"
  ip -n "$c" addr add 192.0.2.2/24 dev "$ci"
  ip -n "$s" link set "$si" up
  ip -n "$c" link set "$ci" up
  cmac=$(ip -n "$c" -br link show dev "$ci" | awk '{print $3}')
  ip -n "$s" neigh replace 192.0.2.2 lladdr "$cmac" dev "$si" nud permanent
  ip -n "$s" route add 198.18.0.0/15 via 192.0.2.2 dev "$si"
  ip -n "$c" link add "e2p$n$id" type veth peer name "e2q$n$id"
  srv_ns[$n]=$s cli_ns[$n]=$c srv_if[$n]=$si cli_if[$n]=$ci
  park_if[$n]=e2p$n$id
  srv_mac[$n]=$(ip -n "$s" -br link show dev "$si" | awk '{print $3}')
}

agent_attach() {
  ip netns exec "${srv_ns[$1]}" "$agent" attach --iface "${srv_if[$1]}" \
    --port "$port" --mode native --pin-dir "$work/bpffs/dc$1" 2>/dev/null
}
agent_detach() {
  ip netns exec "${srv_ns[$1]}" "$agent" detach --iface "${srv_if[$1]}" \
    --pin-dir "$work/bpffs/dc$1" 2>/dev/null
}
prog_attach() {
  ip -n "${srv_ns[$1]}" link set dev "${srv_if[$1]}" xdpdrv obj "$2" sec xdp
}
prog_detach() {
  ip -n "${srv_ns[$1]}" link set dev "${srv_if[$1]}" xdpdrv off
}

serve_start() {
  local lab=$1 impl=$2 i
  ip netns exec "${srv_ns[$lab]}" "$bench" serve --impl "$impl" \
    --cpu "$srv_cpu" --listen "192.0.2.1:$port" \
    --seconds "$(awk -v w="$warmup" -v s="$seconds" 'BEGIN{print w+s+10}')" \
    >"$work/serve.out" 2>"$work/serve.err" &
  serve_pid=$!
  for ((i = 0; i < 100; i++)); do
    grep -qx ready "$work/serve.out" 2>/dev/null && return 0
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$work/serve.err" >&2
  die "the $impl responder did not start"
}
# serve_stop LABEL ROUND: stops the responder, its counts into raw.
serve_stop() {
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" || die "the responder failed: $(cat "$work/serve.err")"
  serve_pid=
  printf '{"label":"%s","round":%d,"server":%s}\n' "$1" "$2" \
    "$(tail -1 "$work/serve.out")" >>"$raw"
}

# Counters of the lab around a run: frames the server end's ring refused
# (counted on the client end), answers the client end refused, and UDP
# receive-buffer drops in the server's stack.
nic_sum() {
  ip netns exec "$1" ethtool -S "$2" |
    awk -v re="$3" '$1 ~ re {s += $2} END {printf "%d\n", s}'
}
udp_stat() {
  ip netns exec "$1" awk -v f="$2" '/^Udp:/ {
    if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 }
    else print $col[f] }' /proc/net/snmp
}
lab_counters() {
  local n=$1
  nic_sum "${cli_ns[$n]}" "${cli_if[$n]}" '^tx_queue_[0-9]+_xdp_xmit_errors:'
  nic_sum "${srv_ns[$n]}" "${srv_if[$n]}" '^rx_queue_[0-9]+_xdp_tx_errors:'
  udp_stat "${srv_ns[$n]}" RcvbufErrors
  udp_stat "${srv_ns[$n]}" InDatagrams
}

# flood LAB LABEL ROUND CPUS EXPECT NAPI_CPU: one measured run, its lines
# into raw. NAPI_CPU -1 runs the client end's NAPI, and so the sink, in the
# softirq of the CPU that sends to it: the flood's CPU after an XDP answer.
# For userspace answers it is pinned to the flood's CPU instead, so the
# responder's CPU never counts its own answers.
flood() {
  local n=$1 label=$2 round=$3 cpus=$4 expect=$5 napi=$6 before after t0 t1
  local perf_pid=
  before=$(lab_counters "$n")
  if [[ -n $profile ]]; then
    perf record -q -C "$gen_cpu,$srv_cpu" -g \
      -o "$work/perf-$label-r$round.data" -- \
      sleep "$(awk -v w="$warmup" -v s="$seconds" 'BEGIN{print w+s}')" \
      2>/dev/null &
    perf_pid=$!
  fi
  t0=$(date +%s.%N)
  ip netns exec "${cli_ns[$n]}" "$bench" flood --iface "${cli_if[$n]}" \
    --park-iface "${park_if[$n]}" --napi-cpu "$napi" \
    --dst-mac "${srv_mac[$n]}" --dst "192.0.2.1:$port" --cpus "$cpus" \
    --seconds "$seconds" --warmup "$warmup" --drain "$drain" \
    --max-packets "$(awk -v s="$seconds" 'BEGIN{printf "%d", (s+1)*3e7}')" \
    --expect "$expect" --label "$label" --round "$round" >>"$raw"
  t1=$(date +%s.%N)
  after=$(lab_counters "$n")
  if [[ -n $perf_pid ]]; then
    wait "$perf_pid" || true
    perf report -i "$work/perf-$label-r$round.data" --no-children \
      --sort cpu,comm,sym --stdio -g none 2>/dev/null |
      grep -E '^ +[0-9]' | head -60 >"$profile/$label-r$round.txt" || true
    rm -f "$work/perf-$label-r$round.data"
  fi
  mapfile -t b <<<"$before"
  mapfile -t a <<<"$after"
  printf '{"label":"%s","round":%d,"lab":{"seconds":%s,' "$label" "$round" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >>"$raw"
  printf '"client_xdp_xmit_errors":%d,"server_xdp_tx_errors":%d,' \
    $((a[0] - b[0])) $((a[1] - b[1])) >>"$raw"
  printf '"udp_rcvbuf_errors":%d,"udp_in_datagrams":%d}}\n' \
    $((a[2] - b[2])) $((a[3] - b[3])) >>"$raw"
}

run() {
  local what=$1 round=$2
  case $what in
  xdp)
    agent_attach 1
    flood 1 xdp "$round" "$gen_cpu" hvr -1
    agent_detach 1
    ;;
  reflector)
    prog_attach 1 "$reflector_obj"
    flood 1 reflector "$round" "$gen_cpu" any -1
    prog_detach 1
    ;;
  gnutls | siphash | openssl)
    prog_attach 1 "$pass_obj"
    serve_start 1 "$what"
    flood 1 "$what" "$round" "$gen_cpu" hvr "$gen_cpu"
    serve_stop "$what" "$round"
    prog_detach 1
    ;;
  xdp_2q_1cpu) flood 2 "$what" "$round" "$gen_cpu" hvr -1 ;;
  xdp_2q_2cpu) flood 2 "$what" "$round" "$gen_cpu,$srv_cpu" hvr -1 ;;
  esac
}

lab_make 1 1
variants=(xdp reflector gnutls siphash openssl)
if ((scaling)); then
  lab_make 2 2
  agent_attach 2
  variants+=(xdp_2q_1cpu xdp_2q_2cpu)
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
RANDOM=$seed
for ((r = 0; r < rounds; r++)); do
  order=("${variants[@]}")
  for ((i = ${#order[@]} - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1)))
    t=${order[i]} order[i]=${order[j]} order[j]=$t
  done
  for v in "${order[@]}"; do run "$v" "$r"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

printf '{"meta":{"rounds":%d,"seconds":%s,"warmup":%s,"quick":%s,' \
  "$rounds" "$seconds" "$warmup" "$( ((quick)) && echo true || echo false)" \
  >>"$raw"
printf '"seed":%d,"gen_cpu":%d,"srv_cpu":%d,"kernel":"%s",' \
  "$seed" "$gen_cpu" "$srv_cpu" "$(uname -r)" >>"$raw"
printf '"bpf_stats_enabled":%d,"load_average_before":"%s",' \
  "$stats_enabled" "$load_before" >>"$raw"
printf '"load_average_after":"%s"}}\n' "$load_after" >>"$raw"
"$bench" report "$raw" ${json:+--json "$json"}
