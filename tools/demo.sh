#!/usr/bin/env bash
# tools/demo.sh [args...]: the README's "main job". Installs what is missing,
# builds the Release example and runs it: it trains a model on data shipped
# with the repository, printing progress and a final metric. Arguments are
# passed to the example program.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The course's wine classifier (examples/wine.c).
example=wine

bash "$root/tools/build.sh" release "$example"

exe="$root/build/release/examples/$example"
if [[ ! -x "$exe" ]]; then
  echo "demo.sh: $exe was not built" >&2
  exit 1
fi
exec "$exe" "$@"
