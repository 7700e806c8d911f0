"""Reads a train run's train-log.parquet and config: prints `train_tokens_per_s` (steps after
the first two, which include start-up) and `train_flops_per_token`, the usual 6N + 12·L·d·T
estimate with N the matmul parameters (the output projection included, the embedding lookup not).

usage: train_rate.py RUN_DIR
"""
import glob
import json
import os
import sys

import pyarrow.parquet as pq

run = sys.argv[1]
log = pq.read_table(f"{run}/train-log.parquet").to_pylist()[2:]
seconds = sum((r["tokens"] - p["tokens"]) / r["tokens_per_s"] for p, r in zip(log, log[1:]))
tokens = log[-1]["tokens"] - log[0]["tokens"]
print(f"train_tokens_per_s {tokens / seconds:.0f}")
config = json.load(open(sorted(glob.glob(f"{run}/checkpoints/step-*/config.json"))[-1]))
d, f, L = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
seq = json.load(open(sorted(glob.glob(f"{run}/checkpoints/step-*/state.json"))[-1]))
# State format 2 keeps input paths relative to the run folder.
seq_len = json.load(open(os.path.join(run, seq["config"]["shards"])))["seq_len"]
matmul_params = L * (4 * d * d + 3 * d * f) + config["vocab_size"] * d
print(f"train_flops_per_token {6 * matmul_params + 12 * L * d * seq_len}")
