#!/usr/bin/env bash
# tools/test.sh: the whole test suite, as CI runs it (.ci/run). Stages, in order:
#
#   release   Release build with -Werror, then its CTest suite
#   sanitize  ASan + UBSan build with -Werror, then its CTest suite with leak
#             detection on and nabla's caching allocator off (NB_NO_CACHE=1)
#   format    tools/check_format.sh (clang-format 14)
#   install   tests/install/run.sh (install, then build consumers with
#             pkg-config and with CMake's find_package)
#
# Stops at the first failing stage and exits non-zero; prints one summary line
# per stage. For local use only, a stage can be skipped with
# NB_SKIP_RELEASE=1, NB_SKIP_SANITIZE=1, NB_SKIP_FORMAT=1 or NB_SKIP_INSTALL=1
# (ignored when CI is set). LSan suppressions, if ever needed, go in
# tools/lsan.supp.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ci_set() {
  [[ -n "${CI:-}" && "${CI}" != 0 && "${CI}" != false ]]
}

# Stage functions run inside `if`, where set -e does not apply: chain with &&.
stage_release() {
  NB_WERROR=1 bash tools/build.sh release &&
    (cd build/release && ctest --output-on-failure --no-tests=error -j2)
}

stage_sanitize() {
  NB_WERROR=1 bash tools/build.sh sanitize || return 1
  local lsan="${LSAN_OPTIONS:-}"
  if [[ -f tools/lsan.supp ]]; then
    lsan="suppressions=$root/tools/lsan.supp${lsan:+:$lsan}"
  fi
  (cd build/sanitize &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      LSAN_OPTIONS="$lsan" \
      NB_NO_CACHE=1 \
      ctest --output-on-failure --no-tests=error -j2)
}

stage_format() {
  bash tools/check_format.sh
}

stage_install() {
  bash tests/install/run.sh
}

STAGES=(release sanitize format install)
declare -A result=()
declare -A seconds=()

summary() {
  echo
  echo "==== tools/test.sh summary ===="
  local s
  for s in "${STAGES[@]}"; do
    printf '  %-9s %s\n' "$s" "${result[$s]:-not run}${seconds[$s]:+ (${seconds[$s]}s)}"
  done
}

# Missing packages are installed once here; the stages need not check again.
bash tools/setup.sh
export NB_SKIP_SETUP=1

start_all=$SECONDS
for s in "${STAGES[@]}"; do
  skip_var="NB_SKIP_${s^^}"
  if [[ "${!skip_var:-}" == 1 ]]; then
    if ci_set; then
      echo "test.sh: ignoring $skip_var=1 because CI is set"
    else
      echo "test.sh: skipping stage '$s' ($skip_var=1)"
      result[$s]="SKIPPED"
      continue
    fi
  fi
  echo "==== test.sh: stage '$s' ===="
  t0=$SECONDS
  if "stage_$s"; then
    result[$s]="passed"
    seconds[$s]=$((SECONDS - t0))
  else
    result[$s]="FAILED"
    seconds[$s]=$((SECONDS - t0))
    summary
    echo "test.sh: FAILED at stage '$s' (see the output above)" >&2
    exit 1
  fi
done

summary
echo "test.sh: all stages passed in $((SECONDS - start_all))s"
