#!/usr/bin/env bash
# An interface that already carries someone else's XDP program, as root on
# veth: attach refuses and leaves it alone; --replace removes a program
# attached through netlink (either mode) and attaches; a program held by a
# BPF link cannot be replaced and is left alone too.
# Usage: foreign_xdp.sh DTLS_COOKIE XDP_PASS_OBJECT
set -uo pipefail
DC=$1
PASS_OBJ=$2
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
cli_setup

A=dca$ID
B=dcb$ID
new_veth "$A"
new_veth "$B"

for mode in xdpdrv xdpgeneric; do
  ip link set dev "$A" "$mode" obj "$PASS_OBJ" sec xdp
  foreign=$(xdp_prog "$A")
  [[ -n $foreign ]] || fail "ip link could not attach the foreign program"

  expect_exit 1 "$A already carries XDP program 'dc_pass' \(id $foreign, (native|skb) mode\).*--replace" \
    dc attach --iface "$A" --port 4433
  check_eq "foreign program untouched ($mode)" "$(xdp_prog "$A")" "$foreign"
  [[ -e $PIN ]] && fail "a refused attach left $PIN"
  # Several interfaces: the refusal comes before anything is attached.
  expect_exit 1 "$A already carries" \
    dc attach --iface "$B,$A" --port 4433
  [[ -z $(xdp_prog "$B") ]] || fail "$B attached by a refused command"
  [[ -e $PIN ]] && fail "a refused attach left $PIN"

  expect_ok dc attach --iface "$A" --port 4433 --replace
  grep -q "removed XDP program 'dc_pass' (id $foreign" "$T/err" ||
    fail "--replace did not say what it removed: $(cat "$T/err")"
  ours=$(xdp_prog "$A")
  [[ -n $ours && $ours != "$foreign" ]] || fail "--replace: program is '$ours'"
  ip -d link show dev "$A" | grep -q "prog/xdp id $ours name dc_responder" ||
    fail "--replace: dc_responder is not on $A"
  expect_ok dc detach --iface "$A"
  nothing_left "$A"
done

# A program held by a BPF link: another dtls-cookie instance, pinned
# elsewhere, stands for any link-based tool.
OTHER=$T/bpffs/other
expect_ok "$DC" attach --iface "$A" --port 5684 --pin-dir "$OTHER"
theirs=$(xdp_prog "$A")
expect_exit 1 "$A already carries XDP program 'dc_responder' \(id $theirs" \
  dc attach --iface "$A" --port 4433
expect_exit 1 "held by a BPF link of another tool" \
  dc attach --iface "$A" --port 4433 --replace
check_eq "the link's program stays" "$(xdp_prog "$A")" "$theirs"
[[ -e $PIN ]] && fail "a failed --replace left $PIN"
expect_ok "$DC" detach --iface "$A" --pin-dir "$OTHER"
nothing_left "$A" "$B"

cli_finish
