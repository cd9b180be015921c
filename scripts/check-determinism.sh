#!/usr/bin/env bash
# Runs every bundled scenario (scenarios/*.toml; ring configurations live
# in scenarios/ring/) twice with the same seed and compares the
# digests and the summaries (minus wall-clock figures). Usage:
#   scripts/check-determinism.sh [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-7}"
cargo build --release --quiet
bin=target/release/dynasim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for scenario in scenarios/*.toml; do
  for run in a b; do
    "$bin" run "$scenario" --seed "$seed" --out "$work/$run" --quiet
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("wall"); print(json.dumps(d, sort_keys=True))' \
      "$work/$run/summary.json" > "$work/$run.json"
  done
  if cmp -s "$work/a.json" "$work/b.json"; then
    echo "same    $scenario"
  else
    echo "DIFFERS $scenario  repro: dynasim run $scenario --seed $seed"
    status=1
  fi
done
exit "$status"
