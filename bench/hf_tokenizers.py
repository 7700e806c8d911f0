"""Hugging Face `tokenizers` side of bench/inject.sh.

`check TOKENIZER CORPUS`: loads a tokenizer.json written by `inject`, checks that it round-trips
corpus text and that `<|endoftext|>` is a special token.
`encode TOKENIZER CORPUS [SHARD_DIR]`: times `encode_batch` over every document (the thread count
comes from RAYON_NUM_THREADS, set by the caller before Python starts) and prints `tokens seconds`;
with SHARD_DIR, also checks that the shards `inject` wrote hold exactly these ids, in order.
"""

import json
import os
import sys
import time

import pyarrow.parquet as pq
from tokenizers import Tokenizer


def check_shards(shard_dir: str, encodings, eos: int) -> None:
    with open(os.path.join(shard_dir, "manifest.json")) as f:
        manifest = json.load(f)
    packed = []
    for shard in manifest["shards"]:
        table = pq.read_table(os.path.join(shard_dir, shard["file"]), columns=["tokens"])
        packed.extend(table.column("tokens").combine_chunks().flatten().to_pylist())
    stream = [i for e in encodings for i in e.ids + [eos]]
    if packed != stream[: len(packed)]:
        sys.exit(f"{shard_dir}: shard tokens differ from python tokenizers' ids")


def main(mode: str, tokenizer_path: str, corpus_path: str, shard_dir: str = "") -> None:
    tokenizer = Tokenizer.from_file(tokenizer_path)
    texts = pq.read_table(corpus_path, columns=["text"]).column("text").to_pylist()
    if mode == "check":
        eos = tokenizer.token_to_id("<|endoftext|>")
        assert eos is not None, "no <|endoftext|> token"
        for text in texts[:2000]:
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            assert tokenizer.decode(ids, skip_special_tokens=False) == text, text[:80]
        both = tokenizer.encode("a<|endoftext|>b", add_special_tokens=False).ids
        assert eos in both, both
        print(f"python tokenizers loaded {tokenizer_path}: vocab {tokenizer.get_vocab_size()}, "
              f"round trip ok on {min(len(texts), 2000)} documents")
        return
    start = time.perf_counter()
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    seconds = time.perf_counter() - start
    # inject counts one <|endoftext|> per document as well.
    tokens = sum(len(e.ids) for e in encodings) + len(texts)
    if shard_dir:
        check_shards(shard_dir, encodings, tokenizer.token_to_id("<|endoftext|>"))
    print(tokens, seconds)


if __name__ == "__main__":
    main(*sys.argv[1:])
