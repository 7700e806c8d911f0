#!/usr/bin/env bash
# GPU check of the CUDA build: run ON the GPU machine, from the repo root, with .gpu/ made by
# scripts/build-cuda.sh (no Rust or network needed there; python3 with torch and pyarrow is).
# It unpacks .gpu/*.xz into its scratch folder first.
#
#   OUT=/some/folder scripts/gpu-check.sh
#
# (a) finds CUDA 13 libcudart/libcublas/libcublasLt/libcurand (PyTorch's nvidia-* wheels, then
#     /usr/local/cuda) for LD_LIBRARY_PATH, prints the GPU and what .gpu/train links;
# (b) runs `make reproduce-fig3 PRESET=smoke` with train on the GPU, then on the CPU, and compares
#     the base run's losses and the Figure 3 table;
# (c) trains each model of the `paper` preset for a few steps at its batch shape on random tokens
#     and prints params, tokens/s, FLOP/s and model FLOP utilisation; the same with PyTorch.
# Writes $OUT/gpu-check.log (everything), $OUT/summary.md and the smoke Figure 3 tables. Each
# stage runs under `timeout`, clamped to a budget for the whole script.
#
# Settings (environment):
#   OUT                  output folder                                   [/tmp/gpu-check-out]
#   GPU_CHECK_DEVICE     device for train and torch                      [cuda]
#   GPU_CHECK_BIN        stage binaries                                  [.gpu]
#   GPU_CHECK_BUDGET_S   whole-script budget in seconds                  [330]
#   GPU_CHECK_STEPS      candle steps per paper model                    [50]
#   GPU_CHECK_TORCH_STEPS  PyTorch steps per paper model                 [20]
#   GPU_CHECK_BATCH / GPU_CHECK_SEQ   batch shape          [the paper preset's: 128 x 1024]
#   GPU_CHECK_VOCAB      vocabulary of the random tokens                 [the paper preset's]
#   GPU_CHECK_MICRO      rows per forward/backward [largest power of 2 keeping one attention
#                        score tensor (rows x heads x seq^2 f32) within 1 GiB]
#   GPU_CHECK_MODELS     model TOMLs to time                  [the paper preset's small, large]
#   GPU_CHECK_SKIP       stages to skip, space-separated: smoke smoke-cpu candle torch
#   PYTHON               python with pyarrow (and torch for the PyTorch runs)     [python3]
#   GPU_CHECK_WORK       scratch folder (emptied)                        [/tmp/gpu-check-work]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. scripts/gpu-lib.sh
OUT=${OUT:-/tmp/gpu-check-out}
DEV=${GPU_CHECK_DEVICE:-cuda}
BIN=${GPU_CHECK_BIN:-.gpu}
BUDGET=${GPU_CHECK_BUDGET_S:-330}
STEPS=${GPU_CHECK_STEPS:-50}
TORCH_STEPS=${GPU_CHECK_TORCH_STEPS:-20}
SKIP=" ${GPU_CHECK_SKIP:-} "
PY=${PYTHON:-python3}
WORK=${GPU_CHECK_WORK:-/tmp/gpu-check-work}
# Peak rates of an H100 SXM / H200 (same compute): dense TF32 tensor cores, plain FP32 cores.
PEAK_TF32=495e12
PEAK_FP32=67e12
START=$(date +%s)
DEADLINE=$(( START + BUDGET ))
mkdir -p "$OUT"
SUMMARY=$OUT/summary.md

# bounded SECONDS RESERVE CMD...: timeout of min(SECONDS, time left - RESERVE); refuses under 10 s.
bounded() {
  local want=$1 reserve=$2; shift 2
  local left=$(( DEADLINE - $(date +%s) - reserve ))
  local t=$(( want < left ? want : left ))
  if [ "$t" -lt 10 ]; then
    echo "SKIPPED (budget: ${left}s left after reserving ${reserve}s): $*"; return 125
  fi
  echo "+ [timeout ${t}s] $*"
  timeout -k 5 "$t" "$@"
  local rc=$?
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "TIMED OUT after ${t}s: $*"
  return "$rc"
}

main() {
  echo "# gpu-check $(date -u +%FT%TZ) on ${HOSTNAME:-?}, device=$DEV, bin=$BIN, budget ${BUDGET}s"
  printf '# GPU check (%s, device %s)\n\n' "$(date -u +%FT%TZ)" "$DEV" > "$SUMMARY"
  [ -f "$BIN/COMMIT" ] && echo "binaries built from: $(tr '\n' ' ' < "$BIN/COMMIT")"
  rm -rf "$WORK" && mkdir -p "$WORK"

  # ------------------------------------------------------------------------ (a) environment
  stage "(a) environment"
  local libdirs
  libdirs=$(cuda_library_path "$PY")
  export LD_LIBRARY_PATH=${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  if command -v nvidia-smi >/dev/null; then
    timeout 30 nvidia-smi -L
    GPU_NAME=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
  else
    echo "nvidia-smi: not found"; GPU_NAME="none (no nvidia-smi)"
  fi
  note "- GPU: $GPU_NAME"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | head -3
  command -v make >/dev/null && HAVE_MAKE=1 || HAVE_MAKE=0
  echo "make: $(command -v make || echo 'not found')"
  local bin f
  # scripts/build-cuda.sh ships the binaries xz-compressed (the CUDA train is 60 MiB stripped):
  # unpacked into $WORK/bin, so that .gpu/ keeps its size
  BIN=$(unpack_binaries "$BIN" "$WORK/bin" "$PY")
  for bin in gen-facts inject train probe fit plot preset; do
    [ -x "$BIN/$bin" ] || { echo "MISSING $BIN/$bin (run scripts/build-cuda.sh)"; note "- FAIL: $BIN/$bin missing"; }
  done
  echo "ldd $BIN/train:"
  ldd "$BIN/train" | grep -E 'cuda|cublas|curand|nvrtc|not found'
  if ldd "$BIN/train" | grep -q 'not found'; then
    note "- FAIL: the loader does not find: $(ldd "$BIN/train" | awk '/not found/ {print $1}' | tr '\n' ' ')"
  else
    note "- loader: every library of $BIN/train found"
  fi
  "$BIN/train" --version

  # ----------------------------------------------------------------- (b) smoke Figure 3 chain
  SMOKE_OK=
  if skipped smoke; then echo "smoke: skipped (GPU_CHECK_SKIP)"
  elif [ "$HAVE_MAKE" = 0 ]; then
    stage "(b) smoke chain: make is not installed here, so the Figure 3 chain cannot run"
    note "- smoke chain: NOT RUN (no make on this machine); (c) still trains on $DEV"
  else
    stage "(b) smoke chain, train on $DEV"
    local t0=$(date +%s)
    bounded 90 200 make --no-print-directory reproduce-fig3 PRESET=smoke BIN="$BIN" \
      BUILD_BINARIES=no DEVICE="$DEV" RESULTS="$WORK/smoke-$DEV"
    local rc=$?
    note "- smoke chain on $DEV: $([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)") in $(( $(date +%s) - t0 )) s"
    if [ $rc = 0 ]; then
      SMOKE_OK=1
      cp "$WORK/smoke-$DEV/fig3/fig3.md" "$OUT/fig3-smoke-$DEV.md"
      cp "$WORK/smoke-$DEV/fig3/fig3.png" "$OUT/fig3-smoke-$DEV.png"
      cat "$WORK/smoke-$DEV/fig3/fig3.md"
    fi
  fi
  if [ -n "$SMOKE_OK" ] && [ "$DEV" != cpu ] && ! skipped smoke-cpu; then
    stage "(b) smoke chain, train on cpu (comparison)"
    local t0=$(date +%s)
    if bounded 60 170 make --no-print-directory reproduce-fig3 PRESET=smoke BIN="$BIN" \
        BUILD_BINARIES=no DEVICE=cpu RESULTS="$WORK/smoke-cpu"; then
      note "- smoke chain on cpu: ok in $(( $(date +%s) - t0 )) s"
      cp "$WORK/smoke-cpu/fig3/fig3.md" "$OUT/fig3-smoke-cpu.md"
      echo "--- diff of the Figure 3 tables, cpu vs $DEV:"
      if diff "$WORK/smoke-cpu/fig3/fig3.md" "$WORK/smoke-$DEV/fig3/fig3.md"; then
        echo "identical"; note "- Figure 3 table: identical on cpu and $DEV"
      else
        note "- Figure 3 table: differs between cpu and $DEV (see fig3-smoke-*.md)"
      fi
      "$PY" - "$WORK/smoke-cpu/work/smoke" "$WORK/smoke-$DEV/work/smoke" "$DEV" <<'PY' | tee -a "$SUMMARY"
import sys
import pyarrow.parquet as pq
cpu, gpu, dev = sys.argv[1:4]
for run in ["base-small/train-log.parquet", "runs/small-mid/logprobs.parquet"]:
    a, b = pq.read_table(f"{cpu}/{run}").to_pydict(), pq.read_table(f"{gpu}/{run}").to_pydict()
    col = "loss" if "train-log" in run else "target_logprob"
    d = max(abs(x - y) for x, y in zip(a[col], b[col]))
    rel = d / max(abs(x) for x in a[col])
    print(f"- {run} `{col}`: max |cpu - {dev}| = {d:.3g} (relative {rel:.2g}) over {len(a[col])} rows")
    if "train-log" in run:
        print("  - losses cpu / " + dev + ": " + ", ".join(f"{x:.4f}/{y:.4f}" for x, y in list(zip(a[col], b[col]))[:6]) + " ...")
PY
    else
      note "- smoke chain on cpu: FAILED or out of budget"
    fi
  fi

  # -------------------------------------------------------------- (c) paper-shape throughput
  skipped candle && skipped torch && { finish; return; }
  stage "(c) throughput at the paper preset's batch shape"
  local shape
  shape=$("$PY" - <<'PY'
import tomllib
p = tomllib.load(open("pipelines/presets/paper.toml", "rb"))
print(p["shards"]["batch_size"], p["shards"]["seq_len"], p["tokenizer"]["vocab_size"],
      p["models"]["small"], p["models"]["large"])
PY
  ) || { echo "cannot read pipelines/presets/paper.toml"; finish; return; }
  local batch seq vocab small large
  read -r batch seq vocab small large <<<"$shape"
  batch=${GPU_CHECK_BATCH:-$batch}; seq=${GPU_CHECK_SEQ:-$seq}; vocab=${GPU_CHECK_VOCAB:-$vocab}
  local models=${GPU_CHECK_MODELS:-"$small $large"}
  echo "batch $batch x seq $seq, vocab $vocab, $STEPS candle steps, $TORCH_STEPS torch steps, models: $models"
  local shards=$WORK/shards
  mkdir -p "$shards"
  bounded 90 150 "$PY" bench/make_shards.py "$shards" "$vocab" "$STEPS" "$batch" "$seq" ||
    { note "- FAIL: random shards not written"; finish; return; }
  note ""
  note "Throughput: batch $batch x $seq tokens, vocab $vocab, random tokens, f32. MFU = tokens/s x"
  note "FLOPs/token (6N + 12·L·d·T, bench/train_rate.py) / peak; peaks of an H100 SXM / H200: FP32"
  note "(no tensor cores) 67 TFLOP/s, which candle's and PyTorch's default f32 matmuls use (TF32 off),"
  note "and dense TF32 495 TFLOP/s. Steps after the first 2; torch: same model, micro-batch and steps"
  note "after 2 warm-up steps (transformers LlamaForCausalLM, SDPA attention)."
  note ""
  note "| model | params | micro | candle steps | candle tok/s | TFLOP/s | MFU fp32 | MFU tf32 | GPU mem | torch tok/s | torch TFLOP/s | candle/torch |"
  note "|---|---|---|---|---|---|---|---|---|---|---|---|"
  local mf name heads run memlog mempid want reserve rate config tout mm
  local -A MICRO TOK FPT MEM STEPS_DONE TTOK PARAMS CONFIG
  local large_name i=0 n
  large_name=$(basename "$large" .toml)
  n=$(wc -w <<<"$models")
  local torch_reserve=$(( n * 25 ))
  skipped torch && torch_reserve=0
  # candle first (the numbers this check is for), then PyTorch with what time is left
  for mf in $models; do
    i=$(( i + 1 ))
    name=$(basename "$mf" .toml)
    heads=$("$PY" -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['num_heads'])" "$mf")
    MICRO[$name]=${GPU_CHECK_MICRO:-$("$PY" -c "
b, h, s = $batch, $heads, $seq
m = 1
while m * 2 <= b and (m * 2) * h * s * s * 4 <= 2**30: m *= 2
print(m)")}
    TOK[$name]=-; FPT[$name]=-; MEM[$name]=-; STEPS_DONE[$name]=0; TTOK[$name]=-
    run=$WORK/run-$name
    skipped candle && continue
    stage "(c) candle $name: $STEPS steps of $batch x $seq, micro-batch ${MICRO[$name]}, device $DEV"
    memlog=$WORK/mem-$name.txt; mempid=
    if [ "$DEV" != cpu ] && command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$memlog" 2>/dev/null &
      mempid=$!
    fi
    want=$([ "$name" = "$large_name" ] && echo 130 || echo 70)
    reserve=$(( (n - i) * 40 + torch_reserve ))
    bounded "$want" "$reserve" "$BIN/train" --shards "$shards/manifest.json" --model "$mf" \
      --out "$run" --device "$DEV" --steps "$STEPS" --micro-batch "${MICRO[$name]}" --save-every 10 --seed 0
    echo "train exit $?"
    if [ -n "$mempid" ]; then kill "$mempid" 2>/dev/null; wait "$mempid" 2>/dev/null; fi
    [ -s "$memlog" ] && MEM[$name]="$(sort -n "$memlog" | tail -1) MiB"
    if [ -f "$run/train-log.parquet" ] && ls "$run"/checkpoints/step-*/config.json >/dev/null 2>&1; then
      rate=$("$PY" bench/train_rate.py "$run") && echo "$rate"
      TOK[$name]=$(awk '/tokens_per_s/ {print $2}' <<<"$rate"); FPT[$name]=$(awk '/flops_per_token/ {print $2}' <<<"$rate")
      STEPS_DONE[$name]=$("$PY" -c "import pyarrow.parquet as pq,sys; print(pq.read_metadata(sys.argv[1]).num_rows)" "$run/train-log.parquet")
      "$PY" - "$run/train-log.parquet" "$(( batch * seq ))" <<'PY'
import sys
import pyarrow.parquet as pq
r = pq.read_table(sys.argv[1]).to_pydict()
print("loss by step:", " ".join(f"{x:.3f}" for x in r["loss"][:: max(1, len(r["loss"]) // 10)]))
print("seconds per step:", " ".join(f"{int(sys.argv[2]) / x:.2f}" for x in r["tokens_per_s"][:12]))
PY
      config=$(ls -d "$run"/checkpoints/step-* | tail -1)/config.json
      CONFIG[$name]=$WORK/config-$name.json
      cp "$config" "${CONFIG[$name]}"
    else
      echo "no train-log.parquet with a checkpoint in $run: no rate"
    fi
    rm -rf "$run"
  done
  i=0
  for mf in $models; do
    i=$(( i + 1 ))
    name=$(basename "$mf" .toml)
    skipped torch && continue
    if [ -z "${CONFIG[$name]:-}" ]; then
      # no candle run to take the config from: the same Hugging Face config from the TOML
      CONFIG[$name]=$WORK/config-$name.json
      "$PY" - "$mf" "${CONFIG[$name]}" "$vocab" <<'PY'
import json, sys, tomllib
m = tomllib.load(open(sys.argv[1], "rb"))
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_size": m["hidden_size"], "intermediate_size": m["intermediate_size"],
           "num_hidden_layers": m["num_layers"], "num_attention_heads": m["num_heads"],
           "num_key_value_heads": m["num_heads"], "max_position_embeddings": m["max_position_embeddings"],
           "vocab_size": int(sys.argv[3]), "tie_word_embeddings": True, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0}, open(sys.argv[2], "w"))
PY
    fi
    stage "(c) torch $name: $TORCH_STEPS steps, micro-batch ${MICRO[$name]}, device $DEV"
    tout=$(bounded 80 $(( (n - i) * 30 )) "$PY" bench/torch_train.py "${CONFIG[$name]}" "$batch" "$seq" \
      "$TORCH_STEPS" --device "$DEV" --micro-batch "${MICRO[$name]}" 2>&1)
    echo "$tout" | grep -v -i warn | tail -8
    TTOK[$name]=$(awk '/^torch_tokens_per_s/ {print $2}' <<<"$tout")
    [ -n "${TTOK[$name]}" ] || TTOK[$name]=-
    mm=$(awk '/^torch_matmul_gflops/ {print $2}' <<<"$tout")
    [ -n "$mm" ] && TORCH_MATMUL="$mm GFLOP/s"
  done
  for mf in $models; do
    name=$(basename "$mf" .toml)
    PARAMS[$name]=$("$PY" -c "
import json, sys
c = json.load(open(sys.argv[1])); d, f, L, v = c['hidden_size'], c['intermediate_size'], c['num_hidden_layers'], c['vocab_size']
print(L * (4*d*d + 3*d*f + 2*d) + d + v*d * (1 if c.get('tie_word_embeddings', True) else 2))" "${CONFIG[$name]:-/nonexistent}" 2>/dev/null || echo -)
    "$PY" - "$name" "${PARAMS[$name]}" "${MICRO[$name]}" "${STEPS_DONE[$name]}" "${TOK[$name]}" "${FPT[$name]}" \
        "${MEM[$name]}" "${TTOK[$name]}" "$PEAK_FP32" "$PEAK_TF32" <<'PY' | tee -a "$SUMMARY"
import sys
name, params, micro, steps, tok, fpt, mem, ttok, p32, ptf = sys.argv[1:11]
num = lambda x: float(x) if x not in ("-", "") else None
tok, fpt, ttok, p32, ptf = map(num, (tok, fpt, ttok, p32, ptf))
fl = tok * fpt if tok and fpt else None
tfl = ttok * fpt if ttok and fpt else None
f = lambda x, s: s.format(x) if x is not None else "-"
print(f"| {name} | {f(num(params), '{:,.0f}')} | {micro} | {steps} | {f(tok, '{:,.0f}')} "
      f"| {f(fl and fl / 1e12, '{:.2f}')} | {f(fl and 100 * fl / p32, '{:.1f} %')} "
      f"| {f(fl and 100 * fl / ptf, '{:.2f} %')} | {mem} | {f(ttok, '{:,.0f}')} "
      f"| {f(tfl and tfl / 1e12, '{:.2f}')} | {f(tok / ttok if tok and ttok else None, '{:.2f}x')} |")
PY
  done
  [ -n "${TORCH_MATMUL:-}" ] && note "" && note "PyTorch f32 matmul on $DEV (8192³ on a GPU, TF32 off): $TORCH_MATMUL"
  finish
}

finish() {
  stage "done in $(( $(date +%s) - START )) s"
  note ""
  note "Total $(( $(date +%s) - START )) s; full log in gpu-check.log."
  echo; echo "---- summary.md"; cat "$SUMMARY"
}

main 2>&1 | tee "$OUT/gpu-check.log"
