"""Writes a benchmark shard folder for `train`: a word-level tokenizer.json of VOCAB tokens,
STEPS x BATCH rows of SEQ uniformly random token ids, and manifest.json.

usage: make_shards.py OUT_DIR VOCAB STEPS BATCH SEQ
"""
import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out, vocab, steps, batch, seq = sys.argv[1], *map(int, sys.argv[2:6])
words = {"<|endoftext|>": 0, **{f"w{i}": i for i in range(1, vocab)}}
tokenizer = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
    "decoder": None, "model": {"type": "WordLevel", "vocab": words, "unk_token": "<|endoftext|>"},
}
with open(f"{out}/tokenizer.json", "w") as f:
    json.dump(tokenizer, f)

rng = np.random.default_rng(0)
tokens = rng.integers(0, vocab, size=(steps * batch, seq), dtype=np.uint32)
u32_list = pa.list_(pa.field("item", pa.uint32(), nullable=False))
schema = pa.schema([
    pa.field("step", pa.uint32(), nullable=False),
    pa.field("row", pa.uint32(), nullable=False),
    pa.field("tokens", u32_list, nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("knowledge_ids", u32_list, nullable=False),
    pa.field("variants", u32_list, nullable=False),
])
n = steps * batch
table = pa.table({
    "step": pa.array(np.repeat(np.arange(steps, dtype=np.uint32), batch)),
    "row": pa.array(np.tile(np.arange(batch, dtype=np.uint32), steps)),
    "tokens": pa.array([list(map(int, r)) for r in tokens], type=u32_list),
    "source": pa.array(["corpus"] * n),
    "knowledge_ids": pa.array([[]] * n, type=u32_list),
    "variants": pa.array([[]] * n, type=u32_list),
}, schema=schema)
pq.write_table(table, f"{out}/shard-00000.parquet", compression="zstd")
manifest = {
    "format": "factlab-shards/1", "tokenizer": "tokenizer.json", "seq_len": seq,
    "batch_size": batch, "start_step": 0, "steps": steps, "eos_token_id": 0,
    "shards": [{"file": "shard-00000.parquet", "first_step": 0, "last_step": steps - 1, "rows": n}],
}
with open(f"{out}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=2)
