"""PyTorch baseline for bench/train.sh: the same Llama architecture (transformers'
LlamaForCausalLM from a factlab config.json), AdamW, gradient clipping, random tokens of the same
batch and sequence length. Prints `torch_tokens_per_s X` and `torch_matmul_gflops Y`.

usage: torch_train.py CONFIG_JSON BATCH SEQ STEPS
"""
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

config_path, batch, seq, steps = sys.argv[1], *map(int, sys.argv[2:5])
torch.manual_seed(0)
config = LlamaConfig.from_json_file(config_path)
model = LlamaForCausalLM(config).float().train()
optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, betas=(0.9, 0.95), eps=1e-8,
                              weight_decay=0.1)
ids = torch.randint(0, config.vocab_size, (steps, batch, seq))


def step(i):
    loss = model(input_ids=ids[i], labels=ids[i]).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


warmup = 2
for i in range(warmup):
    step(i)
started = time.perf_counter()
for i in range(warmup, steps):
    step(i)
seconds = time.perf_counter() - started
print(f"torch_tokens_per_s {(steps - warmup) * batch * seq / seconds:.0f}")

a = torch.ones(1024, 1024)
a @ a
started = time.perf_counter()
for _ in range(20):
    a @ a
print(f"torch_matmul_gflops {2 * 1024**3 * 20 / (time.perf_counter() - started) / 1e9:.1f}")
