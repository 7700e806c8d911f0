#!/usr/bin/env bash
# The biography experiments (Physics of LMs 3.1) on the lent GPU machine, in one call: run ON that
# machine from the repo root, with .gpu/ made by scripts/build-cuda.sh (no Rust or network needed
# there; python3 with pyarrow is, and torch for the PyTorch peer).
#
#   OUT=/some/folder scripts/gpu-bios.sh
#
# (a) the biography chain (`make reproduce-bios-qa PRESET=smoke`) with train and probe on the
#     GPU, then (beside (b)) on the CPU, each with full and LoRA finetuning; compares losses and
#     answers;
# (b) `make reproduce-bios-qa PRESET=tiny16` (all 16 variants, side by side, one CPU thread each)
#     with train and probe on the GPU when (a) passed there, else on the CPU. A single-threaded
#     CPU run of one tiny variant takes about 8 minutes, too long for one call;
# (c) then, with what time is left, the bios-paper model's training throughput at the paper's
#     96 × 512 batch, candle against PyTorch (scripts/gpu-check.sh's stage (c)): what
#     PRESET=paper would cost.
# Writes $OUT/summary.md, $OUT/gpu-bios.log and $OUT/tiny16.tar.gz (the tiny16 tables, figure,
# answers and training logs: what finished within the budget).
#
# Settings (environment):
#   OUT                 output folder                                    [/tmp/gpu-bios-out]
#   GPU_BIOS_BUDGET_S   whole-script budget in seconds                   [540]
#   GPU_BIOS_DEVICE     device of (a) and (c)                            [cuda]
#   GPU_BIOS_BIN        stage binaries (.xz are unpacked first)          [.gpu]
#   GPU_BIOS_SKIP       parts to skip, space-separated: smoke tiny16 paper
#   GPU_BIOS_JOBS       side-by-side runs of (b)                         [nproc]
#   GPU_BIOS_TINY16_ARGS  more make arguments for (b), e.g. BIOS_SEED=2 for another replicate
#   GPU_BIOS_RESERVE_S  seconds of the budget kept from (b) for collecting [40]
#   GPU_BIOS_MODEL      the model of (c)               [pipelines/models/bios-paper.toml]
#   GPU_BIOS_MICRO / GPU_BIOS_STEPS / GPU_BIOS_TORCH_STEPS   (c)'s micro-batch and steps [32, 12, 8]
#   PYTHON              python with pyarrow                              [python3]
#   GPU_BIOS_WORK       scratch folder (emptied)                         [/tmp/gpu-bios-work]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. scripts/gpu-lib.sh
OUT=${OUT:-/tmp/gpu-bios-out}
BUDGET=${GPU_BIOS_BUDGET_S:-540}
DEV=${GPU_BIOS_DEVICE:-cuda}
SKIP=" ${GPU_BIOS_SKIP:-} "
JOBS16=${GPU_BIOS_JOBS:-$(nproc)}
# seconds kept from tiny16 for collecting its results
TINY16_RESERVE_S=${GPU_BIOS_RESERVE_S:-40}
PY=${PYTHON:-python3}
WORK=${GPU_BIOS_WORK:-/tmp/gpu-bios-work}
START=$(date +%s)
DEADLINE=$(( START + BUDGET ))
mkdir -p "$OUT"
SUMMARY=$OUT/summary.md

left() { echo $(( DEADLINE - $(date +%s) )); }

# smoke_run DEVICE FINETUNE RESULTS: the smoke biography chain; FINETUNE is full or lora
smoke_run() {
  local dev=$1 finetune=$2 results=$3 lora=() t0
  [ "$finetune" = lora ] && lora=(BIOS_FINETUNE_LORA_RANK=4 BIOS_FINETUNE_LORA_EMBEDDING_RANK=8)
  t0=$(date +%s)
  timeout -k 5 "$(( $(left) > 150 ? 120 : $(left) - 30 ))" make --no-print-directory reproduce-bios-qa \
    PRESET=smoke BIN="$BIN" BUILD_BINARIES=no DEVICE="$dev" JOBS=1 THREADS=1 "${lora[@]}" \
    RESULTS="$results"
  local rc=$?
  note "- bios smoke chain, $finetune finetuning, on $dev: $([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)") in $(( $(date +%s) - t0 )) s"
  return $rc
}

# compare_smoke FINETUNE: losses and answers of the $DEV run against the CPU run
compare_smoke() {
  "$PY" - "$WORK/smoke-$1-cpu/work/bios-smoke" "$WORK/smoke-$1-$DEV/work/bios-smoke" "$DEV" "$1" <<'PY' | tee -a "$SUMMARY"
import sys
import pyarrow.parquet as pq
cpu, other, dev, finetune = sys.argv[1:5]
for variant in ["single", "multi2+permute"]:
    for run in ["base", "finetune"]:
        a = pq.read_table(f"{cpu}/{variant}/{run}/train-log.parquet").column("loss").to_pylist()
        b = pq.read_table(f"{other}/{variant}/{run}/train-log.parquet").column("loss").to_pylist()
        d = max(abs(x - y) for x, y in zip(a, b))
        print(f"  - {finetune} {variant} {run}: max |loss cpu - {dev}| = {d:.3g} over {len(a)} steps (last {a[-1]:.4f} / {b[-1]:.4f})")
    a = pq.read_table(f"{cpu}/{variant}/answers.parquet").column("generated").to_pylist()
    b = pq.read_table(f"{other}/{variant}/answers.parquet").column("generated").to_pylist()
    same = sum(x == y for x, y in zip(a, b))
    print(f"  - {finetune} {variant} answers: {same} of {len(a)} generated strings identical on cpu and {dev}")
PY
}

collect_tiny16() {
  local r=$WORK/tiny16 files=() v
  [ -d "$r" ] || return
  for f in bios-qa/bios-qa.md bios-qa/bios-qa.png bios-qa/bios-qa.parquet work/bios-tiny16/preset.mk; do
    [ -f "$r/$f" ] && files+=("$f")
  done
  for v in "$r"/work/bios-tiny16/*/; do
    v=${v%/}; v=work/bios-tiny16/$(basename "$v")
    for f in answers.parquet answers.md base/train-log.parquet finetune/train-log.parquet; do
      [ -f "$r/$v/$f" ] && files+=("$v/$f")
    done
  done
  [ -f "$WORK/tiny16.log" ] && cp "$WORK/tiny16.log" "$r/tiny16.log" && files+=(tiny16.log)
  tar -C "$r" -czf "$OUT/tiny16.tar.gz" "${files[@]}" && echo "tiny16.tar.gz: ${#files[@]} files"
}

main() {
  echo "# gpu-bios $(date -u +%FT%TZ) on ${HOSTNAME:-?}, $(nproc) cores, device $DEV, budget ${BUDGET}s"
  printf '# Biography checks on the GPU machine (%s)\n\n' "$(date -u +%FT%TZ)" > "$SUMMARY"
  [ -f "${GPU_BIOS_BIN:-.gpu}/COMMIT" ] && note "- binaries: $(head -1 "${GPU_BIOS_BIN:-.gpu}/COMMIT")"
  rm -rf "$WORK" && mkdir -p "$WORK"
  export LD_LIBRARY_PATH=$(cuda_library_path "$PY")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  command -v nvidia-smi >/dev/null && note "- GPU: $(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
  BIN=$(unpack_binaries "${GPU_BIOS_BIN:-.gpu}" "$WORK/bin" "$PY")
  local b
  for b in gen-facts inject train probe fit plot preset; do
    [ -x "$BIN/$b" ] || { note "- FAIL: $BIN/$b missing (run scripts/build-cuda.sh)"; return 1; }
  done
  ldd "$BIN/train" | grep -q 'not found' && note "- FAIL: the loader does not find: $(ldd "$BIN/train" | awk '/not found/ {print $1}' | tr '\n' ' ')"

  # ------------------------------------------------------------ (a) smoke chain on the GPU
  local smoke_ok=
  if ! skipped smoke; then
    smoke_ok=yes
    local finetune
    for finetune in full lora; do
      stage "(a) bios smoke chain, $finetune finetuning, on $DEV"
      smoke_run "$DEV" "$finetune" "$WORK/smoke-$finetune-$DEV" || smoke_ok=
    done
  fi

  # -------------------------------------- (b) tiny16, in the background; (a) CPU comparisons
  local tiny16_pid= tiny16_dev=$DEV
  if ! skipped tiny16; then
    [ -n "$smoke_ok" ] || skipped smoke || tiny16_dev=cpu
    stage "(b) make reproduce-bios-qa PRESET=tiny16, DEVICE=$tiny16_dev JOBS=$JOBS16 THREADS=1, in the background"
    note "- tiny16: train and probe on $tiny16_dev, $JOBS16 runs side by side"
    ( timeout -k 5 "$(( $(left) - TINY16_RESERVE_S ))" make --no-print-directory -k reproduce-bios-qa PRESET=tiny16 \
        BIN="$BIN" BUILD_BINARIES=no DEVICE="$tiny16_dev" JOBS="$JOBS16" THREADS=1 RESULTS="$WORK/tiny16" \
        ${GPU_BIOS_TINY16_ARGS:-} \
        > "$WORK/tiny16.log" 2>&1
      echo $? > "$WORK/tiny16.rc" ) &
    tiny16_pid=$!
  fi
  if ! skipped smoke; then
    for finetune in full lora; do
      [ -d "$WORK/smoke-$finetune-$DEV" ] || continue
      stage "(a) bios smoke chain, $finetune finetuning, on cpu (comparison)"
      smoke_run cpu "$finetune" "$WORK/smoke-$finetune-cpu" && compare_smoke "$finetune"
    done
  fi
  if [ -n "$tiny16_pid" ]; then
    stage "(b) waiting for tiny16 ($(left) s left)"
    wait "$tiny16_pid"
    note "- tiny16: make exit $(cat "$WORK/tiny16.rc" 2>/dev/null || echo '?') after $(( $(date +%s) - START )) s; $(ls "$WORK"/tiny16/work/bios-tiny16/*/answers.parquet 2>/dev/null | wc -l) of 16 variants answered"
    tail -5 "$WORK/tiny16.log"
    [ -f "$WORK/tiny16/bios-qa/bios-qa.md" ] && cat "$WORK/tiny16/bios-qa/bios-qa.md" >> "$SUMMARY"
    collect_tiny16
  fi

  # ------------------------------------------------------------------ (c) the paper model's speed
  # after tiny16: side by side, each would slow the other on the GPU
  if ! skipped paper && [ "$(left)" -gt 200 ]; then
    stage "(c) bios-paper model throughput at 96 x 512"
    local budget_c=$(( $(left) - 15 < 300 ? $(left) - 15 : 300 ))
    OUT=$WORK/check GPU_CHECK_WORK=$WORK/check-work GPU_CHECK_BIN="$BIN" GPU_CHECK_DEVICE="$DEV" \
      GPU_CHECK_SKIP="smoke smoke-cpu" GPU_CHECK_MODELS=${GPU_BIOS_MODEL:-pipelines/models/bios-paper.toml} \
      GPU_CHECK_BATCH=96 GPU_CHECK_SEQ=512 GPU_CHECK_VOCAB=8192 GPU_CHECK_MICRO=${GPU_BIOS_MICRO:-32} \
      GPU_CHECK_STEPS=${GPU_BIOS_STEPS:-12} GPU_CHECK_TORCH_STEPS=${GPU_BIOS_TORCH_STEPS:-8} \
      GPU_CHECK_BUDGET_S="$budget_c" PYTHON="$PY" scripts/gpu-check.sh > "$WORK/check.log" 2>&1
    grep -E '^\|' "$WORK/check/summary.md" >> "$SUMMARY" 2>/dev/null || note "- paper-model throughput: no table (see gpu-bios.log)"
    grep -E 'torch_tokens_per_s|tokens_per_s|TIMED OUT|FAIL|rror' "$WORK/check.log" | head -20
  else
    note "- paper-model throughput: not measured ($(left) s left, 200 needed)"
  fi

  stage "done"
  note ""
  note "Total $(( $(date +%s) - START )) s; full log in gpu-bios.log."
  echo; echo "---- summary.md"; cat "$SUMMARY"
}

main 2>&1 | tee "$OUT/gpu-bios.log"
