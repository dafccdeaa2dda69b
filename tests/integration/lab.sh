# The veth lab: a client and a server network namespace joined by a veth
# pair, a bpffs for the responder's pins outside /sys (ip netns exec remounts
# /sys), and the XDP_PASS program on the client end that veth needs to
# deliver XDP_TX frames. Source it; lab_up and lab_down are the entry points.
# shellcheck shell=bash

# Addresses from the documentation ranges, only ever inside the lab.
LAB_SRV4=192.0.2.1
LAB_CLI4=192.0.2.2
LAB_SRV6=2001:db8::1
LAB_CLI6=2001:db8::2

# lab_up WORKDIR PASS_OBJECT: creates the lab, named with a unique suffix.
# Sets LAB_SRV_NS, LAB_CLI_NS, LAB_SRV_IF, LAB_CLI_IF, LAB_PIN_DIR.
lab_up() {
  local work=$1 pass_obj=$2
  local id
  id=$(printf '%04x%04x' $$ $((RANDOM)))
  LAB_SRV_NS=dcs-$id
  LAB_CLI_NS=dcc-$id
  LAB_SRV_IF=dcs$id
  LAB_CLI_IF=dcc$id
  LAB_BPFFS=$work/bpffs
  LAB_PIN_DIR=$LAB_BPFFS/dtls-cookie
  ip netns add "$LAB_SRV_NS" || return
  ip netns add "$LAB_CLI_NS" || return
  ip link add "$LAB_SRV_IF" netns "$LAB_SRV_NS" type veth \
    peer name "$LAB_CLI_IF" netns "$LAB_CLI_NS" || return
  local ns dev
  for ns in "$LAB_SRV_NS" "$LAB_CLI_NS"; do
    ip -n "$ns" link set lo up || return
  done
  ip -n "$LAB_SRV_NS" addr add "$LAB_SRV4/24" dev "$LAB_SRV_IF" || return
  ip -n "$LAB_SRV_NS" addr add "$LAB_SRV6/64" dev "$LAB_SRV_IF" nodad ||
    return
  ip -n "$LAB_CLI_NS" addr add "$LAB_CLI4/24" dev "$LAB_CLI_IF" || return
  ip -n "$LAB_CLI_NS" addr add "$LAB_CLI6/64" dev "$LAB_CLI_IF" nodad ||
    return
  for dev in "$LAB_SRV_NS:$LAB_SRV_IF" "$LAB_CLI_NS:$LAB_CLI_IF"; do
    ip -n "${dev%%:*}" link set "${dev#*:}" up || return
  done
  ip -n "$LAB_CLI_NS" link set dev "$LAB_CLI_IF" xdpdrv \
    obj "$pass_obj" sec xdp || return
  mkdir -p "$LAB_BPFFS" || return
  mount -t bpf bpf "$LAB_BPFFS" || return
}

# lab_down: removes everything lab_up made; safe to call twice.
lab_down() {
  if [[ -n ${LAB_BPFFS:-} ]] && mountpoint -q "$LAB_BPFFS"; then
    umount "$LAB_BPFFS"
  fi
  if [[ -n ${LAB_SRV_NS:-} ]]; then ip netns del "$LAB_SRV_NS" 2>/dev/null; fi
  if [[ -n ${LAB_CLI_NS:-} ]]; then ip netns del "$LAB_CLI_NS" 2>/dev/null; fi
  return 0
}

# lab_srv CMD...: runs CMD in the server namespace; lab_cli likewise.
lab_srv() { ip netns exec "$LAB_SRV_NS" "$@"; }
lab_cli() { ip netns exec "$LAB_CLI_NS" "$@"; }

# lab_setup: a scratch directory (lib.sh's dc_setup) and an exit trap that
# ends the processes the test started (they hold pins and namespaces), then
# removes the lab and the directory. LAB_ON_EXIT, if set, runs first.
lab_setup() {
  dc_setup
  trap lab_cleanup EXIT
}

lab_cleanup() {
  if [[ -n ${LAB_ON_EXIT:-} ]]; then eval "$LAB_ON_EXIT" || true; fi
  local pid
  for pid in "${DC_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${DC_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  DC_PIDS=()
  lab_down
  dc_cleanup
}
