#!/usr/bin/env bash
# tools/check_format.sh [--fix]: check the C sources against .clang-format.
#
# Checks every *.c / *.h under tensor autograd nn optim data tests examples
# bench tools (in a git checkout: tracked files plus new files git does not
# ignore). Prints the files that differ and exits 1 if any do.
#   --fix   reformat those files in place instead
# Uses Debian 12's clang-format 14 (other versions format slightly
# differently); set CLANG_FORMAT to use another binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fix=0
for arg in "$@"; do
  case "$arg" in
  --fix) fix=1 ;;
  -h | --help)
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *)
    echo "check_format.sh: unknown argument '$arg'" >&2
    exit 2
    ;;
  esac
done

DIRS=(tensor autograd nn optim data tests examples bench tools)
# Generated files are not held to the style.
EXCLUDE_RE='^tests/fixtures/'

cf="${CLANG_FORMAT:-}"
if [[ -z "$cf" ]]; then
  for candidate in clang-format-14 clang-format; do
    if command -v "$candidate" >/dev/null 2>&1; then
      cf="$candidate"
      break
    fi
  done
fi
if [[ -z "$cf" ]] || ! command -v "$cf" >/dev/null 2>&1; then
  echo "check_format.sh: clang-format not found (run tools/setup.sh)" >&2
  exit 1
fi
version="$("$cf" --version | sed -n 's/.*version \([0-9][0-9]*\).*/\1/p' | head -n 1)"
if [[ "$version" != 14 ]]; then
  echo "check_format.sh: warning: $cf is version ${version:-unknown}; CI uses 14" >&2
fi

files=()
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    files+=("$f")
  done < <(git ls-files -z --cached --others --exclude-standard -- "${DIRS[@]}" |
    grep -z -E '\.[ch]$' | grep -z -v -E "$EXCLUDE_RE" | sort -z -u)
else
  existing=()
  for d in "${DIRS[@]}"; do
    [[ -d "$d" ]] && existing+=("$d")
  done
  if [[ ${#existing[@]} -gt 0 ]]; then
    while IFS= read -r -d '' f; do
      files+=("$f")
    done < <(find "${existing[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 |
      grep -z -v -E "$EXCLUDE_RE" | sort -z)
  fi
fi

bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue # deleted in the work tree but still in the index
  if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

if [[ ${#bad[@]} == 0 ]]; then
  echo "check_format.sh: ${#files[@]} files formatted correctly"
  exit 0
fi

if [[ $fix == 1 ]]; then
  "$cf" -i "${bad[@]}"
  echo "check_format.sh: reformatted ${#bad[@]} file(s):"
  printf '  %s\n' "${bad[@]}"
  exit 0
fi

echo "check_format.sh: ${#bad[@]} of ${#files[@]} files need formatting:" >&2
for f in "${bad[@]}"; do
  echo "  $f" >&2
done
echo "---- first differences ----" >&2
shown=0
for f in "${bad[@]}"; do
  diff -u --label "$f" --label "$f (clang-format)" "$f" <("$cf" "$f") | head -n 20 >&2 || true
  shown=$((shown + 1))
  if [[ $shown -ge 3 ]]; then
    break
  fi
done
echo "Fix with: bash tools/check_format.sh --fix" >&2
exit 1
