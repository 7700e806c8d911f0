#!/usr/bin/env bash
# Tokenization throughput of `inject` against Hugging Face `tokenizers` (Python, `encode_batch`)
# with the same tokenizer.json on the same corpus, at 1 and 2 threads, printed as a ratio.
#
# `inject` is timed end to end (read Parquet, tokenize, pack, write zstd shards); Python only
# for `encode_batch` on texts already in memory. Tokens/s counts every tokenized token plus one
# `<|endoftext|>` per document on both sides. Each side runs with RAYON_NUM_THREADS=N and is pinned
# to N cores with taskset (inject's shard writer thread shares those cores). Also checks that
# Python loads the tokenizer trained by `inject`, round-trips text with it, and produces exactly
# the ids in the shards.
#
# Usage: bench/inject.sh [DOCUMENTS]   (default 100000: about 30 M tokens, 110 MB of text)
# Installs `tokenizers` and `pyarrow` from PyPI into bench/.venv on first use.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
documents=${1:-100000}
# cargo's target folder, wherever CARGO_TARGET_DIR, CARGO_BUILD_TARGET_DIR or a config put it.
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=${BENCH_WORK:-$target/bench-inject}
venv=$root/bench/.venv
mkdir -p "$work"

if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet tokenizers pyarrow
fi
python=$venv/bin/python

cargo build --release --quiet -p inject --manifest-path "$root/Cargo.toml"
inject=$target/release/inject

corpus=$work/corpus-$documents.parquet
[[ -f $corpus ]] || "$python" "$root/bench/make_corpus.py" "$corpus" "$documents"

# A tokenizer trained by inject on the corpus, then the Python check.
"$inject" -q -c "$corpus" -o "$work/train" --vocab-size 8192 --tokenizer-documents 5000 --steps 1
tokenizer=$work/train/tokenizer.json
"$python" "$root/bench/hf_tokenizers.py" check "$tokenizer" "$corpus"

now() { date +%s.%N; }
pin() { if command -v taskset > /dev/null; then taskset -c "0-$(($1 - 1))" "${@:2}"; else "${@:2}"; fi; }
declare -A rust_rate python_rate
for threads in 1 2; do
  start=$(now)
  RAYON_NUM_THREADS=$threads pin "$threads" "$inject" -q -c "$corpus" -o "$work/shards" --tokenizer "$tokenizer" \
    --seq-len 1024 --batch-size 32
  end=$(now)
  tokens=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens_tokenized"])' \
    "$work/shards/inject-summary.json")
  rust_rate[$threads]=$(echo "$tokens / ($end - $start)" | bc -l)
  read -r py_tokens py_seconds < <(RAYON_NUM_THREADS=$threads pin "$threads" "$python" \
    "$root/bench/hf_tokenizers.py" encode "$tokenizer" "$corpus" "$work/shards/shards")
  python_rate[$threads]=$(echo "$py_tokens / $py_seconds" | bc -l)
  if [[ $py_tokens != "$tokens" ]]; then
    echo "token counts differ: inject $tokens, python $py_tokens" >&2
    exit 1
  fi
  printf '%d thread(s): %d tokens; inject %.0f tokens/s, python tokenizers %.0f tokens/s, ratio %.2fx\n' \
    "$threads" "$tokens" "${rust_rate[$threads]}" "${python_rate[$threads]}" \
    "$(echo "${rust_rate[$threads]} / ${python_rate[$threads]}" | bc -l)"
done
printf 'scaling 1 -> 2 threads: inject %.2fx, python tokenizers %.2fx\n' \
  "$(echo "${rust_rate[2]} / ${rust_rate[1]}" | bc -l)" \
  "$(echo "${python_rate[2]} / ${python_rate[1]}" | bc -l)"
