#!/usr/bin/env bash
# The sweep of docs/fidelity.md: the tiny preset with 3 seeds, then one factor at a time
# (injected share, template overlap, base-run length, window), and the verdicts of each by
# `plot findings`. Every run is the ordinary `make reproduce-fig3` chain on a variant preset
# written under $SWEEP/presets/, so each variant is rerun or resumed like the main job.
#
#   scripts/sweep-fig3.sh                   everything, one after another (about 2 hours on 2 cores)
#   scripts/sweep-fig3.sh seed2 & scripts/sweep-fig3.sh seed3 & wait; scripts/sweep-fig3.sh verdicts
#
# Steps: seed1 seed2 seed3 share overlap base (runs), window (refits of seed1), verdicts (the
# findings over the runs present). Wall times go to $SWEEP/times.tsv; verdicts to
# $SWEEP/findings/*.md. BUILD=no uses the binaries in $BIN as they are.
set -euo pipefail

SWEEP=${SWEEP:-results/sweep}
# cargo's debug binaries, in CARGO_TARGET_DIR (or CARGO_BUILD_TARGET_DIR) when set, as in the Makefile.
BIN=${BIN:-${CARGO_TARGET_DIR:-${CARGO_BUILD_TARGET_DIR:-target}}/debug}
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(seed1 seed2 seed3 share overlap window base verdicts)
mkdir -p "$SWEEP/presets" "$SWEEP/findings"
[ "${BUILD:-yes}" = no ] || cargo build --workspace --bins --quiet

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

# The fit of a whole chain, or of the mid run alone (run_mid).
fit_dir() {
  local work="$SWEEP/$1/work/$1"
  if [ -d "$work/fit" ]; then echo "$work/fit"; else echo "$work/fit-mid"; fi
}

# run_mid NAME: only what the small model's mid-checkpoint run needs (base run to mid, one
# continuation), then `fit` on that run: enough for the findings F1, F4 and F5, in a quarter of
# the time of the whole chain.
run_mid() {
  local name=$1 start end work="$SWEEP/$1/work/$1"
  start=$(date +%s)
  make --no-print-directory PRESET="$name" PRESET_FILE="$SWEEP/presets/$name.toml" \
    RESULTS="$SWEEP/$name" BIN="$BIN" BUILD_BINARIES=no reproduce-mid > "$SWEEP/$name.log" 2>&1
  end=$(date +%s)
  printf '%s\t%d\n' "$name" $((end - start)) >> "$SWEEP/times.tsv"
  echo "$name: $((end - start)) s"
}

# findings OUT METRIC FIT_DIR...: the verdicts over the given fits (one per seed).
findings() {
  local out=$1 metric=$2
  shift 2
  local effectivity=() decay=() draws=()
  for dir in "$@"; do
    effectivity+=("$dir/effectivity.parquet"); decay+=("$dir/decay.parquet"); draws+=("$dir/draws.parquet")
  done
  "$BIN/plot" findings --effectivity "${effectivity[@]}" --decay "${decay[@]}" --draws "${draws[@]}" \
    --metric "$metric" \
    -o "$SWEEP/findings/$out.md" --quiet
}

# Seed k prefixes every seed of the preset with k (1 → k1, 0 → k0): the knowledge, the corpus,
# the initial weights and the bootstrap all change.
seed_expressions() {
  local k=$1
  echo "s/^seed = \([0-9]*\)/seed = $k\1/"
}

# findings_if_present OUT METRIC RUN...: the verdicts over those runs that have finished.
findings_if_present() {
  local out=$1 metric=$2 dirs=()
  shift 2
  for name in "$@"; do
    [ -e "$(fit_dir "$name")/decay.parquet" ] && dirs+=("$(fit_dir "$name")")
  done
  if [ ${#dirs[@]} -gt 0 ]; then findings "$out" "$metric" "${dirs[@]}"; fi
}

for step in "${STEPS[@]}"; do
  case $step in
    seed1|seed2|seed3)
      s=${step#seed}
      if [ "$s" = 1 ]; then variant tiny-s1 tiny; else variant "tiny-s$s" tiny "$(seed_expressions "$s")"; fi
      run "tiny-s$s"
      ;;
    share)
      variant tiny-share-high tiny 's/^max_per_step = .*/max_per_step = 12/'
      run_mid tiny-share-high
      ;;
    overlap)
      variant tiny-overlap tiny '/^\[corpus\]/a grammar = "knowledge"'
      run_mid tiny-overlap
      ;;
    base)
      variant small-s1 small
      run small-s1
      ;;
    window)
      # The runs of seed 1 refitted with shorter windows.
      work="$SWEEP/tiny-s1/work/tiny-s1"
      for window in 5 10; do
        "$BIN/fit" --logprobs "$work"/runs/{small-early,small-mid,small-late,large-mid}/logprobs.parquet \
          --injections "$(echo "$work"/continuation-b*/injections.parquet)" \
          --manifest "$(echo "$work"/continuation-b*/shards/manifest.json)" --step-offset 250 \
          --window "$window" --seed 0 -o "$SWEEP/tiny-s1-window$window/work/tiny-s1-window$window/fit" --quiet
      done
      ;;
    verdicts)
      for metric in net raw first-token; do
        findings_if_present "tiny-3seeds-$metric" "$metric" tiny-s1 tiny-s2 tiny-s3
        findings_if_present "tiny-s1-$metric" "$metric" tiny-s1
      done
      for name in tiny-share-high tiny-overlap small-s1 tiny-s1-window5 tiny-s1-window10; do
        findings_if_present "$name-net" net "$name"
      done
      ;;
    *) echo "unknown step $step (seed1 seed2 seed3 share overlap base window verdicts)" >&2; exit 2 ;;
  esac
done
