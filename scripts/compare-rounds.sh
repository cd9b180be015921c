#!/usr/bin/env bash
# Compares the CPU time of two programs on runs too short for
# compare-cpu.sh (a tenth of a second, like the quickstart): ROUNDS rounds,
# each running A and then B (the order reversed every other round) REPS
# times under `perf stat -e task-clock`, whose count is exact to the
# nanosecond where GNU time counts in 10 ms steps. Prints each round's
# mean task-clock per run, then each program's mean and the rounds' ratios
# (B / A) with their geometric mean and its ~95 % interval (two standard
# errors of the mean log ratio). ARGS are passed to both programs as they
# are, so either can be any dynasim binary, an old one without `--jobs`
# included (the simulator issue 13 was filed on, 3781e95). Usage:
#   scripts/compare-rounds.sh ROUNDS REPS PROGRAM_A PROGRAM_B ARGS...
# e.g.
#   scripts/compare-rounds.sh 8 10 /tmp/old target/release/dynasim \
#     run -q scenarios/quickstart.toml --out /tmp/compare
#
# Why rounds: the machine's speed drifts over minutes, and a round puts the
# two programs within seconds of each other; why the reversed order: the
# one started first may not fare like the second (BENCHMARKS.md, session
# 46). The interval assumes rounds vary independently, which drift breaks:
# trust a difference only outside it, and repeat the comparison. Needs
# `perf`.
set -euo pipefail
if [ $# -lt 5 ]; then
  echo "usage: $0 ROUNDS REPS PROGRAM_A PROGRAM_B ARGS..." >&2
  exit 2
fi
rounds=$1 reps=$2 a=$3 b=$4
shift 4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The mean task-clock in ms of one run of program $1 with the arguments.
task_clock_ms() {
  local program=$1
  shift
  if ! perf stat -x, -e task-clock -r "$reps" -o "$work/stat" "$program" "$@" > /dev/null; then
    echo "$program failed (see its message above)" >&2
    exit 1
  fi
  awk -F, '$3 == "task-clock" { print $1 }' "$work/stat"
}

for round in $(seq 1 "$rounds"); do
  order="a b"
  if [ $((round % 2)) = 0 ]; then order="b a"; fi
  declare -A ms=()
  for side in $order; do
    if [ "$side" = a ]; then program=$a; else program=$b; fi
    ms[$side]=$(task_clock_ms "$program" "$@")
  done
  echo "$round ${ms[a]} ${ms[b]} $order" |
    awk '{ printf "round %2d  A %9.1f ms  B %9.1f ms  B/A %.3f  (%s first)\n", $1, $2, $3, $3 / $2, toupper($4) }'
  echo "${ms[a]} ${ms[b]}" >> "$work/rounds"
done
awk '
  { a += $1; b += $2; r[NR] = log($2 / $1); log_ratio += r[NR]; slower += ($2 > $1) }
  END {
    mean = log_ratio / NR
    for (i = 1; i <= NR; i++) squares += (r[i] - mean) ^ 2
    half = NR > 1 ? 2 * sqrt(squares / (NR - 1) / NR) : 0
    printf "A  mean %.1f ms a run\n", a / NR
    printf "B  mean %.1f ms a run\n", b / NR
    printf "B/A  geometric mean %.3f (~95 %% interval %.3f to %.3f); B slower in %d of %d rounds\n", exp(mean), exp(mean - half), exp(mean + half), slower, NR
  }' "$work/rounds"
