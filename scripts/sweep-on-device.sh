#!/usr/bin/env bash
# Sweep steps of scripts/sweep-fig3.sh side by side on a many-core machine that has no Rust
# toolchain (the lent GPU machine's 16 cores), from CPU stage binaries packed here first:
#
#   scripts/sweep-on-device.sh --pack                 (here: strip + xz into .gpu/cpu/)
#   OUT=... LIMIT_S=480 scripts/sweep-on-device.sh seed2 seed3 share overlap   (there)
#
# Each step runs with 2 jobs × 2 threads, so four steps fill 16 cores. The work folders (with
# checkpoints) stay in /tmp; what comes back under $OUT is each run's fit tables, Figure 3, its
# log and wall time, and the verdicts. Results are the same as on any other machine: every
# stage is deterministic whatever the thread count.
set -euo pipefail
PACKED=.gpu/cpu
STAGES=(gen-facts inject train fit plot preset)

if [ "${1:-}" = --pack ]; then
  cargo build --workspace --bins --quiet
  mkdir -p "$PACKED"
  for stage in "${STAGES[@]}"; do
    strip -o "$PACKED/$stage" "target/debug/$stage"
    xz -f -T2 "$PACKED/$stage"
  done
  git rev-parse HEAD > "$PACKED/COMMIT"
  du -sh "$PACKED"
  exit 0
fi

OUT=${OUT:?set OUT to the folder that comes back}
LIMIT_S=${LIMIT_S:-480}
BIN=/tmp/factlab-bin
SWEEP=/tmp/factlab-sweep
mkdir -p "$BIN" "$SWEEP"
for stage in "${STAGES[@]}"; do
  xz -dc "$PACKED/$stage.xz" > "$BIN/$stage"
  chmod +x "$BIN/$stage"
done
echo "binaries of commit $(cat "$PACKED/COMMIT"); $(nproc) cores"
export SWEEP BIN BUILD=no JOBS=2 THREADS=2
for step in "$@"; do
  timeout "$LIMIT_S" scripts/sweep-fig3.sh "$step" > "$OUT/$step.log" 2>&1 &
done
wait || true
scripts/sweep-fig3.sh verdicts || true
mkdir -p "$OUT/sweep"
cp -r "$SWEEP/findings" "$SWEEP/times.tsv" "$SWEEP"/*.log "$OUT/sweep/" 2>/dev/null || true
for run in "$SWEEP"/*/work/*; do
  name=$(basename "$run")
  mkdir -p "$OUT/sweep/$name"
  cp -r "$run/fit" "$OUT/sweep/$name/" 2>/dev/null || true
  cp "$run"/continuation-b*/inject-summary.json "$OUT/sweep/$name/" 2>/dev/null || true
  cp -r "$SWEEP/$name/fig3" "$OUT/sweep/$name/" 2>/dev/null || true
done
ls -R "$OUT/sweep" | head -50
