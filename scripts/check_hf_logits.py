#!/usr/bin/env python3
"""Loads factlab checkpoints with transformers' LlamaForCausalLM and compares its logits with
the ones factlab computed (crates/factlab-model/tests/hf_logits.rs writes both).

usage: check_hf_logits.py CHECKPOINT_DIR [CHECKPOINT_DIR ...]
Each folder holds model.safetensors + config.json (the checkpoint) and reference.safetensors
with `ids` (int64, batch x seq) and `logits` (float32, batch x seq x vocab) from factlab.
Exit status 0 when every max |difference| is below 1e-4.
"""
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

TOLERANCE = 1e-4


def check(folder: str) -> bool:
    reference = load_file(f"{folder}/reference.safetensors")
    model = LlamaForCausalLM.from_pretrained(
        folder, torch_dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=reference["ids"].long()).logits
    diff = (logits - reference["logits"]).abs().max().item()
    ok = diff < TOLERANCE
    print(f"{folder}: max |logit difference| = {diff:.3g} ({'ok' if ok else 'FAIL'})")
    return ok


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    results = [check(folder) for folder in sys.argv[1:]]
    sys.exit(0 if all(results) else 1)
