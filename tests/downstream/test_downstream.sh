#!/usr/bin/env bash
# examples/downstream against rtb as a user gets it: rtb is installed into a
# temporary prefix, then the downstream project is built three ways and run:
#   1. meson, rtb found through the installed rtb.pc (pkg-config), g++;
#   2. meson, rtb as a subproject (subprojects/rtb -> this checkout), clang++;
#   3. CMake, rtb found through rtb.pc (pkg_check_modules IMPORTED_TARGET).
# Each must print the same, and what can be checked independently is:
# MD5 against a known value, the Dirhash against dirhash-python.
# Everything happens in a temporary folder, removed on every path.
set -euo pipefail

src=${RTB_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
example=$src/examples/downstream
python=/usr/bin/python3  # Debian's, where python3-dirhash lives

. "$src/tests/support/script_checks.sh" rtb-downstream
step() { echo "== $*"; }

# ------------------------------------------------------------ install rtb

step "install rtb into $tmp/prefix"
meson setup "$tmp/rtb-build" "$src" --prefix="$tmp/prefix" --wrap-mode=nofallback \
  -Dcli=false -Dtests=false -Dbenchmarks=false -Dexamples=false >"$tmp/rtb-setup.log" 2>&1 ||
  { cat "$tmp/rtb-setup.log" >&2; exit 1; }
meson install -C "$tmp/rtb-build" --quiet

pc=$(find "$tmp/prefix" -name rtb.pc -print -quit)
[[ -n $pc ]] || { echo "FAIL: meson install wrote no rtb.pc under $tmp/prefix" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
check "the headers are installed" test -f "$tmp/prefix/include/rtb/rtb.hpp"
check "rtb.pc has the project's version" test "$(pkg-config --modversion rtb)" = 0.1.0
requires=$(pkg-config --print-requires rtb)
for dep in fmt simdjson libxxhash libcrypto libcurl libarchive zlib; do
  check "rtb.pc requires $dep (got: $(tr '\n' ' ' <<<"$requires"))" grep -qx "$dep.*" <<<"$requires"
done
cflags=$(pkg-config --cflags rtb)
check "rtb.pc's Cflags name the installed headers and C++20: $cflags" \
  grep -q -- "-I$tmp/prefix/include .*-std=c++20\|-std=c++20 .*-I$tmp/prefix/include" <<<"$cflags"
libs=" $(pkg-config --libs rtb) "
for lib in -lfmt -lsimdjson -lxxhash -lcrypto -lcurl -larchive -lz -pthread; do
  check "a consumer links $lib (got:$libs)" grep -q -- " $lib " <<<"$libs"
done

# ------------------------------------------------------------ what to expect

tree=$tmp/tree
mkdir -p "$tree/sub" "$tree/__pycache__"
echo 'print("hello")' >"$tree/app.py"
echo 'data' >"$tree/sub/data.txt"
echo 'cached' >"$tree/__pycache__/app.cpython-311.pyc"
echo 'not sent' >"$tree/notes.txt"
printf 'notes.txt\n__pycache__\n' >"$tree/.dockerignore"
expected_dirhash=$("$python" -c 'import dirhash, sys
print(dirhash.dirhash(sys.argv[1], "md5", ignore=[".*/", "__pycache__/", "*.pyc"]))' "$tree")

# Checks one consumer's output; the first one's output is the reference for the rest.
reference=
check_output() {  # check_output NAME OUTPUT-FILE
  local name=$1 out
  out=$(cat "$2")
  echo "$out" | sed "s/^/  $name| /"
  check "$name: version" grep -qx "rtb 0.1.0" <<<"$out"
  check "$name: md5(hello)" grep -qx "md5(hello) 5d41402abc4b2a76b9719d911017c592" <<<"$out"
  check "$name: dirhash equals dirhash-python's $expected_dirhash" grep -qx "dirhash $expected_dirhash" <<<"$out"
  check "$name: plan scratch from the base image" grep -qx "plan scratch from python:3.12-slim" <<<"$out"
  check "$name: a scratch plan applies three tags" test "$(grep -c '^tag local/downstream:rtb_v0.1.0_' <<<"$out")" = 3
  check "$name: the context is what .dockerignore lets through" \
    test "$(grep '^context ' <<<"$out" | grep -v '^context.tar.gz')" = "$(printf 'context .dockerignore\ncontext app.py\ncontext sub/data.txt')"
  check "$name: the packed context" grep -q "^context.tar.gz [0-9]* bytes, sha256 [0-9a-f]\{64\}$" <<<"$out"
  if [[ -z $reference ]]; then
    reference=$out
  else
    check "$name prints what the first consumer printed" test "$out" = "$reference"
  fi
}

run_consumer() {  # run_consumer NAME EXECUTABLE
  local name=$1 exe=$2
  if "$exe" "$tree" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    check_output "$name" "$tmp/$name.out"
  else
    echo "FAIL: $name: $exe exited with $?" >&2
    cat "$tmp/$name.err" >&2
    failures=$((failures + 1))
  fi
}

# Runs a build step quietly; on failure shows its output and stops the test.
quiet() {  # quiet LOG COMMAND...
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "FAIL: $*" >&2
    exit 1
  fi
}

# ------------------------------------------------------------ 1. meson + pkg-config

step "meson, rtb through pkg-config"
cp -r "$example" "$tmp/pkgconfig"
rm -rf "$tmp/pkgconfig/subprojects"  # nothing to fall back on: pkg-config or fail
quiet "$tmp/pkgconfig-setup.log" meson setup "$tmp/pkgconfig/build" "$tmp/pkgconfig" --wrap-mode=nofallback
check "meson found rtb with pkg-config" grep -q "Run-time dependency rtb found: YES 0.1.0" "$tmp/pkgconfig-setup.log"
quiet "$tmp/pkgconfig-build.log" ninja -C "$tmp/pkgconfig/build"
run_consumer meson-pkgconfig "$tmp/pkgconfig/build/rtb_downstream"

# ------------------------------------------------------------ 2. meson subproject

step "meson, rtb as a subproject (clang++)"
cp -r "$example" "$tmp/subproject"
mkdir -p "$tmp/subproject/subprojects"
ln -s "$src" "$tmp/subproject/subprojects/rtb"
# No rtb.pc in sight, and the fallback forced: the subproject or nothing.
quiet "$tmp/subproject-setup.log" env -u PKG_CONFIG_PATH CXX=clang++ \
  meson setup "$tmp/subproject/build" "$tmp/subproject" --wrap-mode=nofallback --force-fallback-for=rtb
check "meson took rtb from the subproject" grep -q "Executing subproject rtb" "$tmp/subproject-setup.log"
check "the subproject built nothing (header-only)" grep -q "rtb| Build targets in project: 0" "$tmp/subproject-setup.log"
check "rtb's override_dependency('rtb') answered" grep -q "Dependency rtb found: YES 0.1.0 (overridden)" "$tmp/subproject-setup.log"
quiet "$tmp/subproject-build.log" ninja -C "$tmp/subproject/build"
run_consumer meson-subproject "$tmp/subproject/build/rtb_downstream"

# ------------------------------------------------------------ 3. CMake + pkg-config

step "CMake, rtb through pkg-config"
cp -r "$example" "$tmp/cmake"
quiet "$tmp/cmake-configure.log" cmake -S "$tmp/cmake" -B "$tmp/cmake/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
check "CMake found rtb with pkg-config" grep -q "Checking for module 'rtb>=0.1.0'" "$tmp/cmake-configure.log"
quiet "$tmp/cmake-build.log" cmake --build "$tmp/cmake/build"
run_consumer cmake-pkgconfig "$tmp/cmake/build/rtb_downstream"

checks_summary
