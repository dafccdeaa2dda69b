#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root: installs what is
# missing, builds, and runs the demonstration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
exec "${BUILD_DIR:-build}"/userspace/dtls-cookie-demo "$@"
