#!/usr/bin/env bash
# `gen-facts bios` against a plain-Python generator of the same data (bench/bios_peer.py, in
# memory, no Parquet): 100,000 people with multi5+permute biographies (500,000 entries). gen-facts
# is timed end to end, writing the entries, the people and the QA pairs as zstd Parquet. Best of
# three runs each; prints a table and the ratio.
#
# Usage: bench/bios.sh [PEOPLE]   (default 100000)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
people=${1:-100000}
# cargo's target folder, wherever CARGO_TARGET_DIR, CARGO_BUILD_TARGET_DIR or a config put it.
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=${BENCH_WORK:-$target/bench-bios}
mkdir -p "$work"

cargo build --release --quiet -p gen-facts --manifest-path "$root/Cargo.toml"
gen_facts=$target/release/gen-facts

best() { sort -n | head -1; }
now() { date +%s.%N; }
rust=$(for _ in 1 2 3; do
  start=$(now)
  "$gen_facts" -q bios -n "$people" --variant multi5+permute --seed 1 -o "$work/bios.parquet" \
    --people "$work/people.parquet" --qa "$work/qa.parquet"
  echo "$(now) - $start" | bc
done | best)
python=$(for _ in 1 2 3; do python3 "$root/bench/bios_peer.py" "$people" 5; done | best)

printf '| generator | people | entries | seconds (best of 3) |\n|---|---:|---:|---:|\n'
printf '| gen-facts bios (to Parquet, zstd) | %d | %d | %.3f |\n' "$people" $((people * 5)) "$rust"
printf '| Python peer (in memory) | %d | %d | %.3f |\n' "$people" $((people * 5)) "$python"
printf '\nratio: gen-facts is %.1f× as fast as the Python peer (goal: ≤ 0.3 s)\n' \
  "$(echo "$python / $rust" | bc -l)"
