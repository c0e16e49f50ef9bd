#!/usr/bin/env bash
# tools/setup.sh [--torch]: make sure the Debian packages nabla needs are
# installed. Idempotent and silent when everything is already there; installs
# what is missing with apt-get (as root, or through sudo).
#
#   --torch   also python3-torch and python3-numpy (only the fixture generator
#             and the PyTorch comparison benchmarks need them)
#
# To add a dependency, add it to PACKAGES below. An entry "a|b" is satisfied
# when any of its alternatives is installed; "a" is installed otherwise.
set -euo pipefail

PACKAGES=(
  "build-essential|gcc"
  libc6-dev
  make
  cmake
  pkg-config
  libblis-openmp-dev
  libcriterion-dev
  zlib1g-dev
  libjansson-dev
  dataset-fashion-mnist
  clang-format
  git
)
TORCH_PACKAGES=(python3-torch python3-numpy)

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

want=("${PACKAGES[@]}")
for arg in "$@"; do
  case "$arg" in
  --torch) want+=("${TORCH_PACKAGES[@]}") ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "setup.sh: unknown argument '$arg'" >&2
    usage >&2
    exit 2
    ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: not a Debian-based system (no dpkg-query); make sure the equivalents of" \
    "these are installed: ${want[*]}" >&2
  exit 0
fi

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for entry in "${want[@]}"; do
  IFS='|' read -r -a alternatives <<<"$entry"
  ok=0
  for pkg in "${alternatives[@]}"; do
    if installed "$pkg"; then
      ok=1
      break
    fi
  done
  if [[ $ok == 0 ]]; then
    missing+=("${alternatives[0]}")
  fi
done

if [[ ${#missing[@]} == 0 ]]; then
  exit 0
fi

if [[ $(id -u) == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup.sh: these packages are missing and I am not root (and sudo is not available):" >&2
  echo "  ${missing[*]}" >&2
  echo "Install them as root with:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "setup.sh: installing missing packages: ${missing[*]}"
if ! "${as_root[@]}" apt-get update -q; then
  echo "setup.sh: 'apt-get update' failed" >&2
  exit 1
fi
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  echo "setup.sh: could not install: ${missing[*]}" >&2
  exit 1
fi
echo "setup.sh: installed ${missing[*]}"
