#!/usr/bin/env bash
# Every error the agent reports, as root on veth: each names the thing and
# what to do, exits 1 (2 for usage errors) and leaves nothing half attached.
# Usage: errors.sh DTLS_COOKIE XDP_PASS_OBJECT
set -uo pipefail
DC=$1
PASS_OBJ=$2
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
cli_setup

A=dca$ID
B=dcb$ID
new_veth "$A" 192.0.2.10/24
new_veth "$B"
head -c 32 /dev/urandom >"$T/secret"
chmod 600 "$T/secret"

# Usage errors: exit 2, CLI11's message.
expect_exit 2 "port 0 is out of range" dc attach --iface "$A" --port 0
expect_exit 2 "port 65536 is out of range" dc attach --iface "$A" --port 65536
expect_exit 2 "port 70000 is out of range" \
  dc attach --iface "$A" --port 4433,70000
expect_exit 2 "'https' is not a UDP port number" \
  dc attach --iface "$A" --port https
expect_exit 2 "'-1' is not a UDP port number" dc attach --iface "$A" --port=-1
expect_exit 2 "--port is required" dc attach --iface "$A"
expect_exit 2 "--iface is required" dc attach --port 4433
expect_exit 2 "--mode" dc attach --iface "$A" --port 4433 --mode hw
expect_exit 2 "--dtls13" dc attach --iface "$A" --port 4433 --dtls13 reply
expect_exit 2 "--established" \
  dc attach --iface "$A" --port 4433 --established answer
expect_exit 2 "not an IPv4 or IPv6 address" \
  dc attach --iface "$A" --port 4433 --local-addr 300.1.1.1
expect_exit 2 "--count requires --watch" dc stats --count 3
expect_exit 2 "subcommand" "$DC"
expect_exit 2 "subcommand is required" "$DC" bogus
expect_exit 2 "--frobnicate" "$DC" status --frobnicate
nothing_left "$A"

# Missing interface; twice the same one.
expect_exit 1 "no interface named nosuch$ID" \
  dc attach --iface "nosuch$ID" --port 4433
expect_exit 1 "no interface named nosuch$ID" \
  dc attach --iface "$A,nosuch$ID" --port 4433
expect_exit 1 "given twice" dc attach --iface "$A,$A" --port 4433
nothing_left "$A"

# Secret files: missing, unreadable (without CAP_DAC_OVERRIDE even root
# cannot read a mode-000 file of another owner), too short.
expect_exit 1 "cannot read secret file $T/missing" \
  dc attach --iface "$A" --port 4433 --secret-file "$T/missing"
head -c 32 /dev/urandom >"$T/locked"
chmod 000 "$T/locked"
chown 65534 "$T/locked"
expect_exit 1 "cannot read secret file $T/locked: Permission denied" \
  setpriv --bounding-set=-dac_override,-dac_read_search \
  --inh-caps=-dac_override,-dac_read_search \
  "$DC" attach --pin-dir "$PIN" --iface "$A" --port 4433 --secret-file "$T/locked"
head -c 15 /dev/urandom >"$T/short"
expect_exit 1 "secret file $T/short holds 15 bytes; at least 16" \
  dc attach --iface "$A" --port 4433 --secret-file "$T/short"
expect_exit 1 "cannot read secret file $T: it is a directory" \
  dc attach --iface "$A" --port 4433 --secret-file "$T"
nothing_left "$A"

# Without the capabilities.
nocaps=(setpriv --bounding-set=-all --inh-caps=-all --)
expect_exit 1 "Operation not permitted \(run as root or with CAP_BPF\+CAP_NET_ADMIN\)" \
  "${nocaps[@]}" "$DC" attach --pin-dir "$PIN" --iface "$A" --port 4433
nothing_left "$A"

# The pin directory must be on a bpffs; the default one is mounted when it
# is not, and a bpffs that cannot be mounted is reported. Both in a mount
# namespace of their own, so the host's /sys/fs/bpf is left alone.
mkdir "$T/plain"
expect_exit 1 "$T/plain/dc is not on a bpffs" \
  "$DC" attach --iface "$A" --port 4433 --pin-dir "$T/plain/dc"
expect_exit 1 "cannot mount a bpffs on /sys/fs/bpf" unshare -m sh -c \
  'umount -l /sys/fs/bpf 2>/dev/null; exec "$@"' sh \
  "${nocaps[@]}" "$DC" attach --iface "$A" --port 4433
# shellcheck disable=SC2016 # expanded by the inner sh
expect_exit 0 "mounted a bpffs on /sys/fs/bpf" unshare -m sh -c \
  'umount -l /sys/fs/bpf 2>/dev/null
   "$0" attach --iface "$1" --port 4433 && "$0" status &&
     "$0" detach --iface "$1" && test ! -e /sys/fs/bpf/dtls-cookie' \
  "$DC" "$A"
nothing_left "$A"

# Not attached: every command that needs an instance says so.
expect_exit 1 "not attached: no instance is pinned in $PIN" dc status
expect_exit 1 "not attached" dc status --json
expect_exit 1 "not attached" dc stats
expect_exit 1 "not attached" dc rotate
expect_exit 1 "not attached" dc detach --iface "$A"
expect_exit 1 "pinned in $PIN" dc check --count 10

# Attached, then: the same interface again, an interface not attached,
# other settings, native mode where the driver has none.
expect_ok dc attach --iface "$A" --port 4433
prog=$(xdp_prog "$A")
expect_exit 1 "already attached to $A .*detach it first" \
  dc attach --iface "$A" --port 4433
expect_exit 1 "already attached to $A" dc attach --iface "$B,$A" --port 4433
[[ -z $(xdp_prog "$B") ]] || fail "$B was attached by a refused command"
expect_exit 1 "$B is not attached by dtls-cookie" dc detach --iface "$B"
expect_exit 1 "runs with other settings \(ports\)" \
  dc attach --iface "$B" --port 4434
expect_exit 1 "other settings \(--malformed, --server-version\)" \
  dc attach --iface "$B" --port 4433 --malformed pass --server-version 1.2
expect_exit 1 "other settings \(--local-addr 203.0.113.1\)" \
  dc attach --iface "$B" --port 4433 --local-addr 203.0.113.1
[[ -z $(xdp_prog "$B") ]] || fail "$B was attached by a refused command"
# Loopback has no native XDP; the agent never falls back on its own.
expect_exit 1 "lo has no native XDP support .*use --mode skb" \
  dc attach --iface lo --port 4433
[[ -z $(xdp_prog lo) ]] || fail "lo got an XDP program"
check_eq "$A still attached" "$(xdp_prog "$A")" "$prog"
expect_ok dc detach --iface "$A"
nothing_left "$A" "$B"

# A failure on a new instance unpins it: lo refuses native mode after the
# instance was loaded for it.
expect_exit 1 "use --mode skb" dc attach --iface lo --port 4433
nothing_left lo

# Something at the pin path that is not ours.
mkdir "$PIN"
bpftool prog load "$PASS_OBJ" "$PIN/prog" type xdp
expect_exit 1 "$PIN/prog is not part of a dtls-cookie instance" \
  dc attach --iface "$A" --port 4433
expect_exit 1 "$PIN/prog is not part of a dtls-cookie instance" dc status
expect_exit 1 "is not part of a dtls-cookie instance" dc detach --iface "$A"
check_eq "the foreign pin stays" "$(ls "$PIN")" prog
rm -rf "$PIN"
mkdir -p "$PIN/subdir"
expect_exit 1 "$PIN/subdir is not part of a dtls-cookie instance" \
  dc attach --iface "$A" --port 4433
rm -rf "$PIN"
# Our names, but another program's objects: a map where the program is.
expect_ok dc attach --iface "$A" --port 4433
expect_ok dc detach --iface "$A"
mkdir "$PIN"
bpftool map create "$PIN/prog" type array key 4 value 4 entries 1 name dc_keys
expect_exit 1 "$PIN/prog is not part of a dtls-cookie instance \(a BPF map, not a program\)" \
  dc status
rm -rf "$PIN"
# An instance of which a pin is missing.
expect_ok dc attach --iface "$A" --port 4433
mv "$PIN/keys" "$T/bpffs/keys-aside"
expect_exit 1 "incomplete \(no keys pin, yet attached\)" dc rotate
mv "$T/bpffs/keys-aside" "$PIN/keys"
expect_ok dc detach --iface "$A"
nothing_left "$A"

cli_finish
