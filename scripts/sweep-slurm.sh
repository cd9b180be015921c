#!/usr/bin/env bash
# A sweep as a Slurm job array: each array task runs one shard of the grid,
# then one dependent job merges the shards into the sweep.csv and
# aggregate.csv a single machine would have written.
#
#   scripts/sweep-slurm.sh SCENARIO SHARDS [extra sweep flags...]
#   e.g. scripts/sweep-slurm.sh scenarios/nrw-compare.toml 4 --seeds 1..100
#
# Shard I of M runs the grid indices i with i mod M = I. The array is
# declared 0-based (--array=0-(M-1)); `--shard M` takes I from
# SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, so a 1-based array
# (--array=1-M) works too. Every task must see the same binary, scenario and
# flags; the output directory must be on a file system all nodes share.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:?usage: scripts/sweep-slurm.sh SCENARIO SHARDS [sweep flags...]}"
shards="${2:?usage: scripts/sweep-slurm.sh SCENARIO SHARDS [sweep flags...]}"
shift 2
name=$(basename "$scenario" .toml)
out="results/$name/slurm"
cargo build --release --quiet
bin="$PWD/target/release/dynasim"
mkdir -p "$out/logs"
flags=$(printf ' %q' "$@")
array=$(sbatch --parsable --job-name="dynasim-$name" --array="0-$((shards - 1))" \
  --cpus-per-task="${CPUS_PER_TASK:-4}" --output="$out/logs/shard-%a.log" \
  --wrap="$bin sweep $(printf %q "$scenario") --shard $shards --out $out/shard-\$SLURM_ARRAY_TASK_ID$flags")
# A run that violates an invariant exits 1 but still writes its shard: merge
# after the array ends either way (afterany), and let the merge's exit code tell.
sbatch --parsable --job-name="dynasim-$name-merge" --dependency="afterany:$array" \
  --output="$out/logs/merge.log" --wrap="$bin merge $out/shard-* --out $out/merged"
echo "submitted array $array ($shards shards); results in $out/merged (log: $out/logs/merge.log)"
