#!/usr/bin/env bash
# Installs the build tree into a scratch prefix and builds a project of its
# own against it twice: through find_package(dtls-cookie) (shared library
# and archive) and through pkg-config; every program must run and pass.
# Usage: install_test.sh BUILD_DIR CONSUMER_SOURCE CXX VERSION
set -euo pipefail

build=$1 consumer=$2 cxx=$3 version=$4
T=$(mktemp -d "${TMPDIR:-/tmp}/dc-install-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
prefix=$T/prefix
FAILS=0

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

# run WHAT CMD...: CMD succeeds, or its output is shown.
run() {
  local what=$1
  shift
  if "$@" >"$T/log" 2>&1; then
    echo "ok: $what"
  else
    fail "$what: $*"
    sed 's/^/  /' "$T/log" >&2
    return 1
  fi
}

# needs FILE PATTERN: FILE's dynamic section does (or, with !, does not)
# name a library matching PATTERN.
needs() {
  local file=$1 pattern=$2 negate=
  [[ $pattern == !* ]] && negate=1 pattern=${pattern#!}
  if readelf -d "$file" | grep NEEDED | grep -q -- "$pattern"; then
    [[ -z $negate ]] || fail "$file links $pattern"
  else
    [[ -n $negate ]] || fail "$file does not link $pattern"
  fi
}

run "cmake --install into $prefix" cmake --install "$build" --prefix "$prefix"

libdir=$(dirname "$(find "$prefix" -name 'libdtls-cookie.so' | head -1)")
[[ -d $libdir ]] || { fail "no libdtls-cookie.so under $prefix"; exit 1; }
for f in sbin/dtls-cookie bin/dtls-cookie-gnutls-server \
  bin/dtls-cookie-openssl-server include/dtls_cookie/version.hpp \
  include/dtls_cookie/abi/abi.h include/dtls_cookie/cookie.hpp \
  lib/systemd/system/dtls-cookie.service; do
  [[ -e $prefix/$f ]] || fail "$f not installed"
done
for f in libdtls-cookie.a pkgconfig/dtls-cookie.pc \
  cmake/dtls-cookie/dtls-cookieConfig.cmake \
  cmake/dtls-cookie/dtls-cookieConfigVersion.cmake \
  cmake/dtls-cookie/dtls-cookieTargets.cmake; do
  [[ -e $libdir/$f ]] || fail "$libdir/$f not installed"
done
soname=$(readelf -d "$libdir/libdtls-cookie.so" |
  sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname == libdtls-cookie.so.* && -e $libdir/$soname ]] ||
  fail "SONAME '$soname' missing or not installed"
grep -qx "ExecStart=$prefix/sbin/dtls-cookie run .*" \
  "$prefix/lib/systemd/system/dtls-cookie.service" ||
  fail "the unit's ExecStart does not name $prefix/sbin/dtls-cookie"
if find "$prefix" -name '*test*' -o -name 'bench*' -o -name '.*' |
  grep -q .; then
  fail "tests, benchmarks or dotfiles installed: $(find "$prefix" \
    -name '*test*' -o -name 'bench*' -o -name '.*' | tr '\n' ' ')"
fi
out=$("$prefix/sbin/dtls-cookie" --version)
[[ $out == "dtls-cookie $version" ]] ||
  fail "installed agent says '$out', not 'dtls-cookie $version'"

# find_package, with nothing of the build tree on the search path.
if run "consumer configured with find_package" \
  cmake -S "$consumer" -B "$T/consumer" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF &&
  run "consumer built" cmake --build "$T/consumer"; then
  run "consumer (shared library) runs" "$T/consumer/consumer"
  run "consumer (archive) runs" "$T/consumer/consumer_static"
  needs "$T/consumer/consumer" "libdtls-cookie.so"
  needs "$T/consumer/consumer_static" "!libdtls-cookie"
  needs "$T/consumer/consumer_static" "libbpf"
  grep -q "dtls-cookie_DIR:PATH=$libdir/cmake/dtls-cookie" \
    "$T/consumer/CMakeCache.txt" ||
    fail "find_package found another dtls-cookie than $prefix's"
fi

# pkg-config: shared, then the archive with --static's flags alone.
export PKG_CONFIG_PATH=$libdir/pkgconfig
pc_prefix=$(pkg-config --variable=prefix dtls-cookie)
[[ $pc_prefix == "$prefix" ]] || fail "dtls-cookie.pc prefix is $pc_prefix"
[[ $(pkg-config --modversion dtls-cookie) == "$version" ]] ||
  fail "dtls-cookie.pc version is $(pkg-config --modversion dtls-cookie)"
flags=$(pkg-config --cflags --libs dtls-cookie)
cflags=$(pkg-config --cflags dtls-cookie)
static_libs=$(pkg-config --static --libs dtls-cookie)
for l in -lcrypto -lbpf; do
  [[ " $static_libs " == *" $l "* ]] || fail "pkg-config --static lacks $l"
  [[ " $flags " != *" $l "* ]] || fail "pkg-config --libs names $l"
done
cxxflags=(-std=c++20 -Wall -Wextra -Wshadow -Werror)
# shellcheck disable=SC2086 # pkg-config's output is a list of words
if run "consumer built with pkg-config" \
  "$cxx" "${cxxflags[@]}" "$consumer/main.cpp" -o "$T/consumer_pc" \
  $flags -Wl,-rpath,"$libdir"; then
  run "consumer (pkg-config) runs" "$T/consumer_pc"
  needs "$T/consumer_pc" "libdtls-cookie.so"
fi
# shellcheck disable=SC2086
if run "consumer built on the archive with pkg-config --static" \
  "$cxx" "${cxxflags[@]}" "$consumer/main.cpp" -o "$T/consumer_pc_static" \
  $cflags \
  ${static_libs/-ldtls-cookie/-l:libdtls-cookie.a}; then
  run "consumer (pkg-config, archive) runs" "$T/consumer_pc_static"
  needs "$T/consumer_pc_static" "!libdtls-cookie"
fi

if ((FAILS)); then
  echo "$FAILS check(s) failed"
  exit 1
fi
echo "all checks passed"
