#!/usr/bin/env bash
# tests/install/run.sh: the install check (a stage of tools/test.sh).
#
# Builds nabla in build/release (reusing what is there), installs it into a
# temporary prefix, then builds tests/install/consumer.c against the installed
# copy twice, as a user would: (a) with pkg-config, (b) with CMake's
# find_package(nabla) and nabla::nabla. Both programs must print "consumer ok".
# Every installed public header must also compile on its own.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/install"
build="$root/build/release"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/nabla-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

fail() { # fail <what> [log]
  echo "install check: FAILED: $1" >&2
  if [[ $# -gt 1 && -f "$2" ]]; then
    echo "---- $(basename "$2") (last lines) ----" >&2
    tail -n 40 "$2" >&2
  fi
  exit 1
}

# Only the libraries are needed by the install rules.
bash "$root/tools/build.sh" release nabla nabla_static || fail "building nabla"

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  fail "cmake --install" "$tmp/install.log"

pc="$(find "$prefix" -path '*/pkgconfig/nabla.pc' | head -n 1)"
[[ -n "$pc" ]] || fail "nabla.pc was not installed"
pcdir="$(dirname "$pc")"
libdir="$(dirname "$pcdir")"
[[ -e "$libdir/libnabla.so" ]] || fail "libnabla.so is not installed next to pkgconfig/ ($libdir)"
[[ -e "$libdir/libnabla.a" ]] || fail "libnabla.a is not installed ($libdir)"
[[ -f "$libdir/cmake/nabla/nablaConfig.cmake" ]] || fail "nablaConfig.cmake is not installed"
incdir="$prefix/include/nabla"
[[ -f "$incdir/nabla.h" ]] || fail "include/nabla/nabla.h is not installed"
[[ -f "$incdir/tensor/tensor.h" ]] || fail "include/nabla/tensor/tensor.h is not installed"
impl="$(find "$incdir" -name '*_impl.h' | head -n 5)"
[[ -z "$impl" ]] || fail "internal headers were installed: $impl"

# Each public header compiles on its own, from the installed include dir only.
while IFS= read -r -d '' header; do
  rel="${header#"$incdir"/}"
  printf '#include <%s>\n' "$rel" |
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$incdir" -x c - \
      >"$tmp/header.log" 2>&1 || fail "installed header $rel does not compile on its own" \
    "$tmp/header.log"
done < <(find "$incdir" -name '*.h' -print0)

# (a) pkg-config. nabla.pc names the prefix build/release was configured with;
# make it name the temporary prefix, as if configured with it. (Not
# --define-variable=prefix: that would also move jansson's and zlib's paths.)
sed -i "s|^prefix=.*|prefix=$prefix|" "$pc"
flags="$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs nabla)" ||
  fail "pkg-config --cflags --libs nabla"
# shellcheck disable=SC2086 # flags are meant to be split
cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$tmp/consumer_pc" "$here/consumer.c" $flags \
  >"$tmp/cc.log" 2>&1 || fail "compiling consumer.c with: cc ... $flags" "$tmp/cc.log"
out="$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer_pc")" ||
  fail "running the pkg-config consumer"
[[ "$out" == "consumer ok" ]] || fail "pkg-config consumer printed '$out'"
echo "install check: pkg-config consumer ok"

# (b) CMake package: find_package(nabla) + nabla::nabla.
cmake -S "$here" -B "$tmp/consumer_build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/consumer_cmake.log" 2>&1 ||
  fail "configuring tests/install with find_package(nabla)" "$tmp/consumer_cmake.log"
cmake --build "$tmp/consumer_build" >>"$tmp/consumer_cmake.log" 2>&1 ||
  fail "building tests/install against nabla::nabla" "$tmp/consumer_cmake.log"
out="$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$tmp/consumer_build/consumer")" || fail "running the find_package consumer"
[[ "$out" == "consumer ok" ]] || fail "find_package consumer printed '$out'"
echo "install check: find_package consumer ok"
