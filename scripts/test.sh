#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what
# is missing, builds, and runs every test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
build=${BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure --timeout 600 -j1 "$@"
