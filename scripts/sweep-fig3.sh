#!/usr/bin/env bash
# The sweep of docs/fidelity.md: the tiny preset with 3 seeds, then one factor at a time
# (injected share, template overlap, base-run length, window), and the verdicts of each by
# `plot findings`. Every run is the ordinary `make reproduce-fig3` chain on a variant preset
# written under $SWEEP/presets/, so each variant is rerun or resumed like the main job.
#
#   scripts/sweep-fig3.sh                   everything (about 1.5 hours on 2 cores)
#   SWEEP=results/sweep scripts/sweep-fig3.sh seeds share overlap base window
#
# Wall times go to $SWEEP/times.tsv; verdicts to $SWEEP/findings/*.md.
set -euo pipefail

SWEEP=${SWEEP:-results/sweep}
BIN=${BIN:-target/debug}
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(seeds share overlap window base)
mkdir -p "$SWEEP/presets" "$SWEEP/findings"
cargo build --workspace --bins --quiet

# variant NAME BASE_PRESET SED_EXPRESSIONS...: a copy of the preset with keys replaced.
variant() {
  local name=$1 base=$2
  shift 2
  local file="$SWEEP/presets/$name.toml"
  cp "pipelines/presets/$base.toml" "$file.tmp"
  for expression in "$@"; do sed -i "$expression" "$file.tmp"; done
  mv "$file.tmp" "$file"
}

# run NAME: the Figure 3 chain on $SWEEP/presets/NAME.toml, timed.
run() {
  local name=$1 start end
  start=$(date +%s)
  make --no-print-directory reproduce-fig3 PRESET="$name" PRESET_FILE="$SWEEP/presets/$name.toml" \
    RESULTS="$SWEEP/$name" BIN="$BIN" BUILD_BINARIES=no > "$SWEEP/$name.log" 2>&1
  end=$(date +%s)
  printf '%s\t%d\n' "$name" $((end - start)) >> "$SWEEP/times.tsv"
  echo "$name: $((end - start)) s"
}

fit_dir() { echo "$SWEEP/$1/work/$1/fit"; }

# findings OUT METRIC FIT_DIR...: the verdicts over the given fits (one per seed).
findings() {
  local out=$1 metric=$2
  shift 2
  local effectivity=() decay=()
  for dir in "$@"; do effectivity+=("$dir/effectivity.parquet"); decay+=("$dir/decay.parquet"); done
  "$BIN/plot" findings --effectivity "${effectivity[@]}" --decay "${decay[@]}" --metric "$metric" \
    -o "$SWEEP/findings/$out.md" --quiet
}

# Seed k prefixes every seed of the preset with k (1 → k1, 0 → k0): the knowledge, the corpus,
# the initial weights and the bootstrap all change.
seed_expressions() {
  local k=$1
  echo "s/^seed = \([0-9]*\)/seed = $k\1/"
}

for step in "${STEPS[@]}"; do
  case $step in
    seeds)
      variant tiny-s1 tiny
      variant tiny-s2 tiny "$(seed_expressions 2)"
      variant tiny-s3 tiny "$(seed_expressions 3)"
      for s in 1 2 3; do run "tiny-s$s"; done
      for metric in net raw first-token; do
        findings "tiny-3seeds-$metric" "$metric" "$(fit_dir tiny-s1)" "$(fit_dir tiny-s2)" "$(fit_dir tiny-s3)"
      done
      findings tiny-s1-net net "$(fit_dir tiny-s1)"
      ;;
    share)
      variant tiny-share-high tiny 's/^max_per_step = .*/max_per_step = 12/'
      run tiny-share-high
      findings tiny-share-high-net net "$(fit_dir tiny-share-high)"
      ;;
    overlap)
      variant tiny-overlap tiny '/^\[corpus\]/a grammar = "knowledge"'
      run tiny-overlap
      findings tiny-overlap-net net "$(fit_dir tiny-overlap)"
      ;;
    window)
      # The same runs refitted with shorter windows.
      work="$SWEEP/tiny-s1/work/tiny-s1"
      for window in 5 10; do
        "$BIN/fit" --logprobs "$work"/runs/{small-early,small-mid,small-late,large-mid}/logprobs.parquet \
          --injections "$work/continuation-b16/injections.parquet" \
          --manifest "$work/continuation-b16/shards/manifest.json" --step-offset 250 \
          --window "$window" --seed 0 -o "$SWEEP/tiny-s1-window$window" --quiet
        findings "tiny-s1-window$window-net" net "$SWEEP/tiny-s1-window$window"
      done
      ;;
    base)
      variant small-s1 small
      run small-s1
      findings small-s1-net net "$(fit_dir small-s1)"
      ;;
    *) echo "unknown step $step (seeds share overlap window base)" >&2; exit 2 ;;
  esac
done
