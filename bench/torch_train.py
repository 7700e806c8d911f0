"""PyTorch baseline for bench/train.sh: the same Llama architecture (transformers'
LlamaForCausalLM from a factlab config.json), AdamW, gradient clipping, random tokens of the same
batch and sequence length. Prints `torch_tokens_per_s X` and `torch_matmul_gflops Y` (f32; on a
GPU an 8192³ product, TF32 off as PyTorch's default is, like candle's).

usage: torch_train.py CONFIG_JSON BATCH SEQ STEPS [--device cpu|cuda] [--micro-batch N]
  --micro-batch: rows per forward/backward, gradients accumulated over the batch (as `train`'s)
"""
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

args = sys.argv[1:]
options = {"--device": "cpu", "--micro-batch": None}
for name in list(options):
    if name in args:
        i = args.index(name)
        options[name] = args[i + 1]
        del args[i:i + 2]
config_path, batch, seq, steps = args[0], *map(int, args[1:4])
device = torch.device(options["--device"])
micro = int(options["--micro-batch"] or batch)
torch.manual_seed(0)
config = LlamaConfig.from_json_file(config_path)
model = LlamaForCausalLM(config).float().train().to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, betas=(0.9, 0.95), eps=1e-8,
                              weight_decay=0.1)
ids = torch.randint(0, config.vocab_size, (steps, batch, seq))


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(i):
    rows = ids[i].to(device)
    for chunk in rows.split(micro):
        loss = model(input_ids=chunk, labels=chunk).loss * (chunk.shape[0] / batch)
        loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


warmup = 2
for i in range(warmup):
    step(i)
sync()
started = time.perf_counter()
for i in range(warmup, steps):
    step(i)
sync()
seconds = time.perf_counter() - started
print(f"torch_tokens_per_s {(steps - warmup) * batch * seq / seconds:.0f}")
if device.type == "cuda":
    print(f"torch_max_memory_gib {torch.cuda.max_memory_allocated(device) / 2**30:.1f}")

n, reps = (8192, 10) if device.type == "cuda" else (1024, 20)
a = torch.randn(n, n, device=device)
a @ a
sync()
started = time.perf_counter()
for _ in range(reps):
    a @ a
sync()
print(f"torch_matmul_gflops {2 * n**3 * reps / (time.perf_counter() - started) / 1e9:.1f}")
