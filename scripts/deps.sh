#!/usr/bin/env bash
# Installs what the project needs on Debian 12 (as root) when it is missing:
# the BPF toolchain, libraries, the real DTLS peers and the lab tools.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang llvm libbpf-dev bpftool gcc-multilib linux-libc-dev
  libclang-rt-14-dev # libFuzzer and the sanitizers for clang (a Recommends)
  libxdp-dev xdp-tools
  libssl-dev openssl libgnutls28-dev gnutls-bin
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev
  iproute2 ethtool tcpdump nftables python3 procps
  dpkg-dev file systemd
  groff-base man-db
  prometheus # promtool, which lints the agent's metrics
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
