#!/usr/bin/env python3
"""Check `probe score-in-context`'s option scores against the served model's own log-probabilities.

Run by `make check-served` (with the venv `make served-install` made, which has llama_cpp and
pyarrow):

    .served/venv/bin/python scripts/check_icl_scores.py --model FILE.gguf \
        --options options.parquet --scores scores.parquet --bos-prefix '<|im_start|>' \
        [--augmented augmented.parquet]

The scores must come from a run without --context, so each option's text is exactly its prompt
followed by its completion. For every option this loads the GGUF in-process, evaluates
BOS + prompt + completion, and sums log-softmax(logits) over the completion's tokens (those whose
text starts at or after the end of the prompt); the sum must match `logprob_sum`, and the token
count `tokens`, within --tol. With --augmented it also checks that augment's served rows are
there, carry their provenance, and are not copies of their sources.
Exit status 0: all matched; 1: a mismatch (a table says which).
"""

import argparse
import sys

import numpy as np
import pyarrow.parquet as pq
from llama_cpp import Llama


def log_softmax(row):
    row = row.astype(np.float64)
    top = row.max()
    return row - top - np.log(np.exp(row - top).sum())


def completion_logprob(llm, prefix, prompt, completion):
    """Sum and count of log p(token) over the tokens of `completion` after BOS + `prompt`."""
    text = prompt + completion
    # The prefix is the model's special begin-of-text token; the server parses it apart from the
    # text, so the text's tokens are those of the text alone.
    head = llm.tokenize(prefix.encode("utf-8"), add_bos=False, special=True)
    body = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    ids = head + body
    llm.reset()
    llm.eval(ids)
    logits = np.array(llm.scores[: len(ids)])
    offset = 0
    total, count = 0.0, 0
    for i, token in enumerate(body):
        position = len(head) + i
        if offset >= len(prompt) and position > 0:
            total += log_softmax(logits[position - 1])[token]
            count += 1
        offset += len(llm.detokenize([token]).decode("utf-8", errors="replace"))
    return total, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--options", required=True)
    parser.add_argument("--scores", required=True)
    parser.add_argument("--bos-prefix", default="<|im_start|>")
    parser.add_argument("--augmented")
    parser.add_argument("--tol", type=float, default=1e-3)
    args = parser.parse_args()

    options = pq.read_table(args.options).to_pylist()
    scores = {(s["question_id"], s["option_id"]): s for s in pq.read_table(args.scores).to_pylist()}
    llm = Llama(model_path=args.model, logits_all=True, n_ctx=2048, verbose=False)
    failures = []
    worst = 0.0
    for option in options:
        key = (option["question_id"], option["option_id"])
        if key not in scores:
            continue
        expected, count = completion_logprob(
            llm, args.bos_prefix, option["prompt"], option["completion"]
        )
        got = scores[key]
        difference = abs(expected - got["logprob_sum"])
        worst = max(worst, difference)
        if difference > args.tol or count != got["tokens"]:
            failures.append((key, option["completion"], expected, got["logprob_sum"], count, got["tokens"]))
    checked = sum(1 for o in options if (o["question_id"], o["option_id"]) in scores)
    print(f"option scores: {checked} options, largest difference {worst:.2e} nats (tolerance {args.tol})")
    if failures:
        print("| question, option | completion | in-process | probe | tokens (in-process / probe) |")
        print("|---|---|---:|---:|---|")
        for key, completion, expected, got, count, tokens in failures:
            print(f"| {key} | {completion!r} | {expected:.6f} | {got:.6f} | {count} / {tokens} |")

    if args.augmented:
        rows = pq.read_table(args.augmented).to_pylist()
        originals = {r["source_id"]: r["text"] for r in rows if r["strategy"] == "original"}
        served = [r for r in rows if r["backend"] == "served"]
        bad = [
            r for r in served
            if not r["text"].strip() or not r["model"] or not r["prompt_hash"]
            or r["text"] == originals.get(r["source_id"])
        ]
        print(f"augmentations: {len(served)} served rows beside {len(originals)} originals, {len(bad)} bad")
        if not served or bad:
            failures.append(("augmented", "no served rows, or rows without text or provenance"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
