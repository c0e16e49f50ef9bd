#!/usr/bin/env bash
# bench/compare.sh [workload...]: nabla against PyTorch, side by side.
#
# Workloads (default all): wine mlp cnn matmul loader elementwise. Builds the
# bench programs in Release (tools/build.sh release), then runs, for every
# workload, nabla's bench_<workload> and - when `/usr/bin/python3 -c 'import
# torch'` works - `bench/torch_ref.py <workload> <threads>`, each at 1 and 2
# threads, each configuration 3 times (interleaved: nabla, PyTorch, nabla, ...
# so a changing machine load hits both alike). For each side it takes the
# median of the 3 runs per thread count and then the better of the two thread
# counts, and prints one line per workload:
#
#   <workload> nabla_s=<s> torch_s=<s> ratio=<nabla_s/torch_s> <metric>=<value> ...
#
# followed by the rest of nabla's figures, PyTorch's (prefixed torch_) and the
# chosen thread counts (threads=<nabla>/<torch>). Seconds are for a fixed
# amount of work (wine: 2000 steps; mlp, cnn: one epoch; matmul: 20 forward +
# backward; loader: one epoch; elementwise: 5 rounds of add, mul, relu), so
# ratio < 1 means nabla is faster. Without PyTorch: torch_s=na ratio=na.
# With mlp or cnn, a last `steady` line gives the allocations of the second
# half of the epoch (allocs_<w>) and the peak RSS of the mlp runs, both sides
# measured alike by /usr/bin/time (peak_rss_mlp_mb, torch_peak_rss_mlp_mb).
#
# Environment: NB_BENCH_RUNS (3) runs per configuration; NB_BENCH_THREADS
# ("1 2") thread counts; NB_BENCH_BUILD=<dir> uses (and builds the bench
# targets in) that existing CMake build directory instead of build/release;
# NB_BENCH_LOG=<file> appends every raw output line there; NB_BENCH_NO_TORCH=1
# skips PyTorch. The programs take the thread count as their first argument
# (nabla: nb_set_num_threads, which also sets BLIS's; PyTorch:
# torch.set_num_threads).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
all=(wine mlp cnn matmul loader elementwise)
runs="${NB_BENCH_RUNS:-3}"
read -r -a thread_counts <<<"${NB_BENCH_THREADS:-1 2}"
log="${NB_BENCH_LOG:-/dev/null}"

case "${1:-}" in
-h | --help)
  sed -n '2,30s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
  ;;
esac
workloads=("$@")
[[ ${#workloads[@]} -gt 0 ]] || workloads=("${all[@]}")
for w in "${workloads[@]}"; do
  if [[ " ${all[*]} " != *" $w "* ]]; then
    echo "compare.sh: unknown workload '$w' (one of: ${all[*]})" >&2
    exit 2
  fi
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "compare.sh: NB_BENCH_RUNS must be a positive integer" >&2
  exit 2
fi

# ---- build ------------------------------------------------------------------
targets=()
for w in "${workloads[@]}"; do targets+=("bench_$w"); done
if [[ -n "${NB_BENCH_BUILD:-}" ]]; then
  bindir="$(cd "$NB_BENCH_BUILD" && pwd)/bench"
  if ! cmake --build "$NB_BENCH_BUILD" -j"$(nproc)" --target "${targets[@]}" >"$bindir.log" 2>&1; then
    grep -E -m 20 'error|Error' "$bindir.log" >&2 || tail -n 20 "$bindir.log" >&2
    echo "compare.sh: building ${targets[*]} in $NB_BENCH_BUILD failed (log: $bindir.log)" >&2
    exit 1
  fi
else
  bindir="$root/build/release/bench"
  bash "$root/tools/build.sh" release "${targets[@]}" >&2
fi

have_torch=0
if [[ "${NB_BENCH_NO_TORCH:-}" != 1 ]] && /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  have_torch=1
fi
have_time=0
if [[ -x /usr/bin/time ]]; then have_time=1; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# run <side> <workload> <threads>: run one configuration once and append
# "<seconds> <peak RSS KiB or na> <the program's result line>" to
# $tmp/<side>.<workload>.<threads>. A failed run appends nothing.
run() {
  local side="$1" w="$2" t="$3" out rss="na" line key
  local cmd
  if [[ "$side" == nabla ]]; then
    cmd=("$bindir/bench_$w" "$t")
    key="nabla_s"
  else
    cmd=(/usr/bin/python3 "$root/bench/torch_ref.py" "$w" "$t")
    key="seconds"
  fi
  if [[ $have_time == 1 ]]; then
    cmd=(/usr/bin/time -f %M -o "$tmp/rss" "${cmd[@]}")
  fi
  if ! out="$(cd "$root/bench" && "${cmd[@]}" 2>"$tmp/err")"; then
    echo "compare.sh: $side $w (threads $t) failed:" >&2
    tail -n 5 "$tmp/err" >&2
    return 0
  fi
  [[ $have_time == 1 ]] && rss="$(tail -n 1 "$tmp/rss")"
  line="$(grep -m 1 "^$w $key=" <<<"$out" || true)"
  printf '%s threads=%s rss_kb=%s | %s\n' "$side" "$t" "$rss" "$out" | tr '\n' ' ' >>"$log"
  echo >>"$log"
  if [[ -z "$line" ]]; then
    echo "compare.sh: $side $w (threads $t) printed no '$w $key=' line" >&2
    return 0
  fi
  local s="${line#* "$key"=}"
  echo "${s%% *} $rss $line" >>"$tmp/$side.$w.$t"
}

# best <side> <workload>: "<seconds> <rss> <threads> <line>" of the median run
# of the thread count whose median is lowest; empty if every run failed.
best() {
  local side="$1" w="$2" t f med best_line=""
  for t in "${thread_counts[@]}"; do
    f="$tmp/$side.$w.$t"
    [[ -s "$f" ]] || continue
    med="$(sort -g -k1,1 "$f" | awk -v n="$(wc -l <"$f")" 'NR == int((n + 1) / 2)')"
    local s="${med%% *}" rest="${med#* }"
    local line="$s ${rest%% *} $t ${rest#* }"
    if [[ -z "$best_line" ]] || awk -v a="$s" -v b="${best_line%% *}" 'BEGIN { exit !(a < b) }'; then
      best_line="$line"
    fi
  done
  echo "$best_line"
}

# mb <KiB or na>: MiB with one decimal, or na.
mb() {
  if [[ "$1" == na ]]; then echo na; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi
}

# metrics <line> <key> <prefix>: the line's key=value fields after the time,
# each name prefixed.
metrics() {
  awk -v key="$2" -v pre="$3" '{
    out = ""
    for (i = 2; i <= NF; i++) {
      if ($i !~ /^[A-Za-z_]+=/ || index($i, key "=") == 1) continue
      out = out " " pre $i
    }
    print substr(out, 2)
  }' <<<"$1"
}

status=0
steady=""
for w in "${workloads[@]}"; do
  for ((r = 1; r <= runs; r++)); do
    for t in "${thread_counts[@]}"; do
      run nabla "$w" "$t"
      [[ $have_torch == 1 ]] && run torch "$w" "$t"
    done
  done
  nb="$(best nabla "$w")"
  if [[ -z "$nb" ]]; then
    echo "$w nabla_s=fail torch_s=na ratio=na"
    status=1
    continue
  fi
  read -r nb_s nb_rss nb_t nb_line <<<"$nb"
  torch_s="na" ratio="na" torch_metrics="" torch_t="na" torch_rss="na"
  if [[ $have_torch == 1 ]]; then
    th="$(best torch "$w")"
    if [[ -n "$th" ]]; then
      read -r torch_s torch_rss torch_t th_line <<<"$th"
      ratio="$(awk -v a="$nb_s" -v b="$torch_s" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
      torch_metrics=" $(metrics "$th_line" seconds torch_)"
    else
      torch_s="fail"
      status=1
    fi
  fi
  echo "$w nabla_s=$nb_s torch_s=$torch_s ratio=$ratio $(metrics "$nb_line" nabla_s "")$torch_metrics threads=$nb_t/$torch_t"
  case "$w" in
  mlp | cnn)
    allocs="$(grep -o 'allocs_after_warmup=[0-9-]*' <<<"$nb_line" | cut -d= -f2)"
    steady+=" allocs_$w=${allocs:-na}"
    if [[ "$w" == mlp ]]; then
      steady+=" peak_rss_mlp_mb=$(mb "$nb_rss") torch_peak_rss_mlp_mb=$(mb "$torch_rss")"
    fi
    ;;
  esac
done
[[ -n "$steady" ]] && echo "steady${steady}"
exit $status
