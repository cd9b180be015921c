#!/usr/bin/env bash
# Compares the CPU time (user + system) of two dynasim binaries on one
# scenario: PAIRS pairs of runs, the two runs of a pair side by side, each
# pinned to a CPU. From pair to pair the CPUs are swapped, and every two
# pairs which binary starts first, so that four pairs (make PAIRS a
# multiple of four) put each binary on each CPU, first and second. Prints
# each pair, then each binary's mean and median and the pairs' ratios
# (B / A) with their geometric mean and its ~95 % interval (two standard
# errors of the mean log ratio). Usage:
#   scripts/compare-cpu.sh SCENARIO PAIRS BINARY_A BINARY_B
#
# Why side by side: on a shared virtual machine the speed of the whole
# machine drifts by tens of per cent within minutes (up to 80 % in session
# 43), so two runs made one after the other differ by more than most
# changes do; two runs made at the same time see the same drift. Why the
# swaps: the two virtual CPUs are not equally fast, and the binary started
# first may not fare like the second. Even so a pair's ratio varies by
# ±10-20 % here, and a binary compared with a copy of itself once came out
# 8.5 % slower over 12 pairs with CPUs swapped but always started second
# (BENCHMARKS.md, session 46): trust a difference only outside the
# interval, and judge changes that remove work or cache misses by
# cachegrind's counts, which do not drift. Meant for runs of a second or
# more: GNU time counts in 10 ms steps. Needs two CPUs, taskset and GNU
# time (/usr/bin/time).
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 SCENARIO PAIRS BINARY_A BINARY_B" >&2
  exit 2
fi
scenario=$1 pairs=$2 a=$3 b=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for pair in $(seq 1 "$pairs"); do
  cpu_a=$((pair % 2)) cpu_b=$(((pair + 1) % 2))
  order="a b"
  if [ $(((pair - 1) / 2 % 2)) = 1 ]; then order="b a"; fi
  declare -A pid=()
  for side in $order; do
    if [ "$side" = a ]; then binary=$a cpu=$cpu_a; else binary=$b cpu=$cpu_b; fi
    /usr/bin/time -f "%U %S" -o "$work/$side.time" \
      taskset -c "$cpu" "$binary" run "$scenario" --quiet --jobs 1 --out "$work/out-$side" > /dev/null &
    pid[$side]=$!
  done
  for side in a b; do
    if ! wait "${pid[$side]}"; then
      echo "pair $pair: binary ${side^^} failed (see its message above)" >&2
      exit 1
    fi
  done
  read -r user_a sys_a < "$work/a.time"
  read -r user_b sys_b < "$work/b.time"
  echo "$pair $user_a $sys_a $user_b $sys_b $order" | awk '{a = $2 + $3; b = $4 + $5; printf "pair %2d  A %8.2f s  B %8.2f s  B/A %.3f  (A on CPU %d, %s first)\n", $1, a, b, b / a, $1 % 2, toupper($6)}'
  echo "$user_a $sys_a $user_b $sys_b" >> "$work/pairs"
done
awk '
  { a[NR] = $1 + $2; b[NR] = $3 + $4; r[NR] = log(b[NR] / a[NR]); log_ratio += r[NR]; slower += (b[NR] > a[NR]) }
  function median(v, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j > 0 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= NR; i++) { sum_a += a[i]; sum_b += b[i] }
    mean = log_ratio / NR
    for (i = 1; i <= NR; i++) squares += (r[i] - mean) ^ 2
    half = NR > 1 ? 2 * sqrt(squares / (NR - 1) / NR) : 0
    printf "A  mean %.2f s  median %.2f s\n", sum_a / NR, median(a, NR)
    printf "B  mean %.2f s  median %.2f s\n", sum_b / NR, median(b, NR)
    printf "B/A  geometric mean %.3f (~95 %% interval %.3f to %.3f); B slower in %d of %d pairs\n", exp(mean), exp(mean - half), exp(mean + half), slower, NR
  }' "$work/pairs"
