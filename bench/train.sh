#!/usr/bin/env bash
# Training throughput of `train` against PyTorch on CPU, in one run on this machine:
#   tokens/s for the smoke, tiny, tiny-large and small presets; the PyTorch ratio at the same
#   architecture, batch and sequence length; achieved FLOP/s as a fraction of a 1024³ f32 matmul.
# usage: bench/train.sh [STEPS]   (PyTorch comes from PyPI into bench/.venv on first use)
#   BEFORE=path/to/train   also times another `train` binary (for example one built from an
#                          earlier commit) in the same run, for a before/after column
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-30}
BATCH=16
SEQ=128
VOCAB=2048
VENV=bench/.venv
if ! "$VENV/bin/python" -c "import torch, transformers, pyarrow, numpy" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch transformers safetensors pyarrow numpy
fi
PY="$VENV/bin/python"
cargo build -q --release -p train
cargo build -q --release -p factlab-model --example matmul_rate
TARGET=$(cargo metadata --format-version 1 --no-deps | "$PY" -c "import json,sys; print(json.load(sys.stdin)['target_directory'])")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" bench/make_shards.py "$WORK" "$VOCAB" "$STEPS" "$BATCH" "$SEQ"
MATMUL=$("$TARGET/release/examples/matmul_rate" 1024 20 | awk '{print $2}')
echo "machine: $(nproc) cores; candle f32 1024^3 matmul: $MATMUL GFLOP/s"
BEFORE=${BEFORE:-}
printf "%-11s %10s %12s %12s %8s %10s %12s\n" model params train_tok/s torch_tok/s ratio matmul_frac before_tok/s
for preset in smoke tiny tiny-large small; do
    RUN="$WORK/run-$preset"
    "$TARGET/release/train" --shards "$WORK/manifest.json" --model "pipelines/models/$preset.toml" \
        --out "$RUN" --quiet
    read -r _ OURS < <("$PY" bench/train_rate.py "$RUN" | grep tokens_per_s)
    PREVIOUS=nan
    if [ -n "$BEFORE" ]; then
        "$BEFORE" --shards "$WORK/manifest.json" --model "pipelines/models/$preset.toml" \
            --out "$RUN-before" --quiet
        read -r _ PREVIOUS < <("$PY" bench/train_rate.py "$RUN-before" | grep tokens_per_s)
    fi
    read -r _ FLOPS_PER_TOKEN < <("$PY" bench/train_rate.py "$RUN" | grep flops_per_token)
    CONFIG=$(ls -d "$RUN"/checkpoints/step-* | tail -1)/config.json
    PARAMS=$("$PY" -c "
import json; c = json.load(open('$CONFIG')); d, f, L, v = c['hidden_size'], c['intermediate_size'], c['num_hidden_layers'], c['vocab_size']
print(L * (4*d*d + 3*d*f + 2*d) + d + v*d * (1 if c['tie_word_embeddings'] else 2))")
    TORCH=$("$PY" bench/torch_train.py "$CONFIG" "$BATCH" "$SEQ" "$STEPS" | awk '/torch_tokens_per_s/ {print $2}')
    "$PY" -c "
ours, torch, fpt, mm, before = $OURS, $TORCH, $FLOPS_PER_TOKEN, $MATMUL, float('$PREVIOUS')
print(f'%-11s %10d %12.0f %12.0f %7.2fx %9.1f%% %12.0f' % ('$preset', $PARAMS, ours, torch, ours / torch, 100 * ours * fpt / (mm * 1e9), before))"
done
"$PY" bench/torch_train.py "$(ls -d "$WORK"/run-tiny/checkpoints/step-* | tail -1)/config.json" 1 2 3 \
    | awk '/torch_matmul_gflops/ {print "torch f32 1024^3 matmul: " $2 " GFLOP/s (for reference)"}'
