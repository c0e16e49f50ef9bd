#!/usr/bin/env bash
# tools/build.sh [release|sanitize] [target...]: configure and build nabla.
#
#   release    build/release, CMAKE_BUILD_TYPE=Release (the default)
#   sanitize   build/sanitize, NB_SANITIZE=ON (ASan + UBSan), RelWithDebInfo
#   target...  build only these CMake targets (default: everything)
#
# Runs tools/setup.sh first (skip with NB_SKIP_SETUP=1). Warnings are errors
# (-DNB_WERROR=ON) when CI is set or NB_WERROR=1; NB_WERROR=0 turns them off;
# otherwise the build directory keeps its earlier setting (default OFF).
# CMake and compiler output go to build/<mode>/build.log; on failure its
# relevant lines are printed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

mode="${1:-release}"
[[ $# -gt 0 ]] && shift
case "$mode" in
release) cmake_args=(-DCMAKE_BUILD_TYPE=Release) ;;
sanitize) cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DNB_SANITIZE=ON) ;;
-h | --help)
  sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
  ;;
*)
  echo "build.sh: unknown mode '$mode' (use release or sanitize)" >&2
  exit 2
  ;;
esac
targets=("$@")

ci_set() {
  [[ -n "${CI:-}" && "${CI}" != 0 && "${CI}" != false ]]
}
if ci_set || [[ "${NB_WERROR:-}" == 1 ]]; then
  cmake_args+=(-DNB_WERROR=ON)
elif [[ "${NB_WERROR:-}" == 0 ]]; then
  cmake_args+=(-DNB_WERROR=OFF)
fi

if [[ "${NB_SKIP_SETUP:-}" != 1 ]]; then
  bash "$root/tools/setup.sh"
fi

dir="$root/build/$mode"
log="$dir/build.log"
mkdir -p "$dir"
: >"$log"

show_failure() {
  echo "build.sh: $1 failed for build/$mode (full log: $log)" >&2
  if grep -q -E ': (fatal )?error:|undefined reference|CMake Error|Error [0-9]+' "$log"; then
    echo "---- errors ----" >&2
    grep -E -m 40 ': (fatal )?error:|undefined reference|CMake Error' "$log" >&2 || true
  fi
  echo "---- last lines of the log ----" >&2
  tail -n 40 "$log" >&2
}

echo "build.sh: building build/$mode${targets[*]:+ (${targets[*]})}, log in build/$mode/build.log"
if ! cmake -S "$root" -B "$dir" "${cmake_args[@]}" >>"$log" 2>&1; then
  show_failure "cmake configure"
  exit 1
fi

build_cmd=(cmake --build "$dir" -j"$(nproc)")
if [[ ${#targets[@]} -gt 0 ]]; then
  build_cmd+=(--target "${targets[@]}")
fi
if ! "${build_cmd[@]}" >>"$log" 2>&1; then
  show_failure "build"
  exit 1
fi

warnings="$(grep -c -E ': warning:' "$log" || true)"
if [[ "$warnings" != 0 ]]; then
  echo "build.sh: done, with $warnings compiler warning(s) (see $log)"
else
  echo "build.sh: done"
fi
