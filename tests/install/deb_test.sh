#!/usr/bin/env bash
# The .deb on this machine (root): built from the build tree with cpack,
# installed with apt-get, the installed agent run (--version, attach and
# detach on a veth pair with a bpffs of the test's own), its file list
# checked, then purged with whatever apt-get pulled in, on every exit.
# Usage: deb_test.sh BUILD_DIR CPACK VERSION CLI_LIB MAN_SOURCE_DIR
set -euo pipefail

build=$1 cpack=$2 version=$3 cli_lib=$4 man_src=$5
# shellcheck source=../agent/cli_lib.sh
source "$cli_lib"
DC=/usr/sbin/dtls-cookie
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
lib=/usr/lib/$multiarch
apt_get=(apt-get -y -q -o DPkg::Lock::Timeout=120)
export DEBIAN_FRONTEND=noninteractive

[[ $(id -u) == 0 ]] || { echo "needs root"; exit 1; }
if dpkg-query -W -f='${Status}' dtls-cookie 2>/dev/null |
  grep -q ' installed'; then
  echo "dtls-cookie is installed here already; this test would remove it"
  exit 1
fi

P=$(mktemp -d "${TMPDIR:-/tmp}/dc-deb-test.XXXXXX")
installed=

# Everything apt-get installed goes again, the package first.
deb_cleanup() {
  cli_cleanup
  if [[ -n $installed ]]; then
    # shellcheck disable=SC2046
    "${apt_get[@]}" purge dtls-cookie $(cat "$P/pulled_in") >/dev/null 2>&1
  fi
  rm -rf "$P"
}
trap deb_cleanup EXIT

echo "building the package"
if ! "$cpack" --config "$build/CPackConfig.cmake" -G DEB -B "$P" \
  >"$P/cpack.log" 2>&1; then
  cat "$P/cpack.log"
  exit 1
fi
debs=("$P"/dtls-cookie_*.deb)
[[ -f ${debs[0]} && ${#debs[@]} == 1 ]] || { echo "no single .deb in $P"; exit 1; }
deb=${debs[0]}
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"
dpkg-deb -f "$deb" Depends

# A file of the package already on disk would be overwritten now and
# deleted by the purge: refuse rather than change the machine.
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's/^\.//' >"$P/files"
while read -r f; do
  if [[ -e $f || -L $f ]]; then
    echo "$f exists already; this test would overwrite it"
    exit 1
  fi
done <"$P/files"

dpkg-query -W -f='${Package}\n' | sort >"$P/before"
installed=1
if ! "${apt_get[@]}" install --no-install-recommends "$deb" >"$P/apt.log" 2>&1
then
  cat "$P/apt.log"
  exit 1
fi
dpkg-query -W -f='${Package}\n' | sort >"$P/after"
comm -13 "$P/before" "$P/after" | grep -vx dtls-cookie >"$P/pulled_in" || true
if [[ -s $P/pulled_in ]]; then
  echo "apt-get also installed: $(tr '\n' ' ' <"$P/pulled_in")"
fi

cli_setup # the scratch directory, its bpffs and a namespace
trap deb_cleanup EXIT

# The control fields.
depends=$(dpkg-deb -f "$deb" Depends)
for d in libbpf1 libssl3 libc6 libstdc++6; do
  [[ $depends == *"$d "* || $depends == *"$d," || $depends == *"$d" ]] ||
    fail "Depends lacks $d: $depends"
done
for field in Maintainer Description Section; do
  [[ -n $(dpkg-deb -f "$deb" "$field") ]] || fail "no $field"
done

# What dpkg says the package holds.
dpkg -L dtls-cookie >"$P/list"
expected=(
  /usr/sbin/dtls-cookie
  /usr/bin/dtls-cookie-gnutls-server
  /usr/bin/dtls-cookie-openssl-server
  "$lib/libdtls-cookie.so"
  "$lib/libdtls-cookie.a"
  /usr/include/dtls_cookie/cookie.hpp
  /usr/include/dtls_cookie/pinned_keys.hpp
  /usr/include/dtls_cookie/version.hpp
  /usr/include/dtls_cookie/abi/abi.h
  "$lib/pkgconfig/dtls-cookie.pc"
  "$lib/cmake/dtls-cookie/dtls-cookieConfig.cmake"
  "$lib/cmake/dtls-cookie/dtls-cookieConfigVersion.cmake"
  "$lib/cmake/dtls-cookie/dtls-cookieTargets.cmake"
  /usr/lib/systemd/system/dtls-cookie.service
)
if [[ -f $man_src/CMakeLists.txt ]]; then
  expected+=(/usr/share/man/man8/dtls-cookie.8.gz)
  grep -q '^/usr/share/man/man3/.*\.3\.gz$' "$P/list" ||
    fail "dpkg -L lists no section 3 manual page"
fi
for f in "${expected[@]}"; do
  if grep -qx "$f" "$P/list"; then pass "dpkg -L lists $f"; else
    fail "dpkg -L does not list $f"
  fi
done
grep -qx "$lib/libdtls-cookie\.so\.[0-9.]*" "$P/list" ||
  fail "dpkg -L lists no versioned libdtls-cookie.so"
programs=$(grep -E '^/usr/s?bin/.' "$P/list" | sort | tr '\n' ' ')
check_eq "programs" "$programs" \
  "/usr/bin/dtls-cookie-gnutls-server /usr/bin/dtls-cookie-openssl-server /usr/sbin/dtls-cookie "
if grep -Ei 'test|bench|/usr/local' "$P/list"; then
  fail "the package carries tests, benchmarks or /usr/local files"
fi
while read -r f; do
  [[ $f == *.gz ]] || fail "manual page not compressed: $f"
  gzip -t "$f" || fail "manual page not a gzip file: $f"
done < <(grep '^/usr/share/man/.*/.' "$P/list")

# The installed files at work.
check_eq "dtls-cookie --version" "$("$DC" --version)" "dtls-cookie $version"
# With a merged /usr the cache may name /lib/$multiarch for $lib.
if ldconfig -p |
  grep -q "libdtls-cookie\.so\.[0-9.]* .*=> \(/usr\)\?/lib/$multiarch/"; then
  pass "ldconfig knows libdtls-cookie"
else
  fail "libdtls-cookie is not in the ldconfig cache (triggers)"
fi
check_eq "pkg-config prefix" \
  "$(env -u PKG_CONFIG_PATH pkg-config --variable=prefix dtls-cookie)" /usr
check_eq "pkg-config version" \
  "$(env -u PKG_CONFIG_PATH pkg-config --modversion dtls-cookie)" "$version"
grep -q "^ExecStart=$DC run " /usr/lib/systemd/system/dtls-cookie.service ||
  fail "the unit's ExecStart does not name $DC"
expect_ok systemd-analyze verify /usr/lib/systemd/system/dtls-cookie.service

ifc=dcdeb$ID
new_veth "$ifc" 10.201.0.1/24
expect_ok dc attach --iface "$ifc" --port 4433
prog=$(xdp_prog "$ifc")
if [[ -n $prog ]]; then pass "XDP program $prog on $ifc"; else
  fail "no XDP program on $ifc after attach"
fi
expect_ok dc status --json
check_eq "status interfaces" "$(json '[i["name"] for i in d["interfaces"]]')" \
  "['$ifc']"
check_eq "status program" "$(json 'd["program_id"]')" "$prog"
expect_ok dc detach --iface "$ifc"
nothing_left "$ifc"

# The purge puts the machine back as it was.
# shellcheck disable=SC2046
if "${apt_get[@]}" purge dtls-cookie $(cat "$P/pulled_in") >"$P/apt.log" 2>&1
then
  installed=
  pass "purged"
else
  fail "apt-get purge failed"
  cat "$P/apt.log"
fi
if dpkg-query -W -f='${Status}' dtls-cookie 2>/dev/null | grep -q installed
then
  fail "dtls-cookie still installed after the purge"
fi
while read -r f; do
  if [[ -e $f || -L $f ]]; then fail "$f left after the purge"; fi
done <"$P/files"
if ldconfig -p | grep -q "libdtls-cookie"; then
  fail "libdtls-cookie still in the ldconfig cache after the purge"
fi
dpkg-query -W -f='${Package}\n' | sort >"$P/end"
cmp -s "$P/before" "$P/end" || fail "installed packages differ from before"

cli_finish
