#!/usr/bin/env bash
# Compares the CPU time (user + system) of two dynasim binaries on one
# scenario: PAIRS pairs of runs, the two runs of a pair side by side, each
# pinned to a CPU, the CPUs swapped from one pair to the next. Prints each
# pair, then each binary's mean and median and the pairs' ratios (B / A)
# with their geometric mean. Usage:
#   scripts/compare-cpu.sh SCENARIO PAIRS BINARY_A BINARY_B
#
# Why side by side: on a shared virtual machine the speed of the whole
# machine drifts by tens of per cent within minutes (up to 80 % in session
# 43), so two runs made one after the other differ by more than most
# changes do; two runs made at the same time see the same drift. Why the
# swap: the two virtual CPUs are not equally fast either. Even so a pair's
# ratio varies by ±10-20 % here: it takes ~16 pairs to tell a difference
# of a few per cent (BENCHMARKS.md, session 43). Meant
# for runs of a second or more: GNU time counts in 10 ms steps. Needs two
# CPUs, taskset and GNU time (/usr/bin/time).
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
  pids=()
  for side in a b; do
    if [ "$side" = a ]; then binary=$a cpu=$cpu_a; else binary=$b cpu=$cpu_b; fi
    /usr/bin/time -f "%U %S" -o "$work/$side.time" \
      taskset -c "$cpu" "$binary" run "$scenario" --quiet --jobs 1 --out "$work/out-$side" > /dev/null &
    pids+=("$!")
  done
  for index in 0 1; do
    if ! wait "${pids[$index]}"; then
      echo "pair $pair: binary $([ "$index" = 0 ] && echo A || echo B) failed (see its message above)" >&2
      exit 1
    fi
  done
  read -r user_a sys_a < "$work/a.time"
  read -r user_b sys_b < "$work/b.time"
  echo "$pair $user_a $sys_a $user_b $sys_b" | awk '{a = $2 + $3; b = $4 + $5; printf "pair %2d  A %8.2f s  B %8.2f s  B/A %.3f\n", $1, a, b, b / a}'
  echo "$user_a $sys_a $user_b $sys_b" >> "$work/pairs"
done
awk '
  { a[NR] = $1 + $2; b[NR] = $3 + $4; log_ratio += log(b[NR] / a[NR]); slower += (b[NR] > a[NR]) }
  function median(v, n,    i, j, t) {
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j > 0 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= NR; i++) { sum_a += a[i]; sum_b += b[i] }
    printf "A  mean %.2f s  median %.2f s\n", sum_a / NR, median(a, NR)
    printf "B  mean %.2f s  median %.2f s\n", sum_b / NR, median(b, NR)
    printf "B/A  geometric mean %.3f; B slower in %d of %d pairs\n", exp(log_ratio / NR), slower, NR
  }' "$work/pairs"
