"""Opens gen-facts' outputs with polars and pyarrow and checks the counts a user would expect.

Usage: python scripts/check_parquet.py DIR   (DIR holds knowledge.parquet, probes.parquet, corpus.parquet)
"""
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

folder = Path(sys.argv[1])
knowledge = pl.read_parquet(folder / "knowledge.parquet")
probes = pl.read_parquet(folder / "probes.parquet")
corpus = pl.read_parquet(folder / "corpus.parquet")

paraphrases = knowledge.select(pl.col("paraphrases").list.len().sum()).item()
per_kind = dict(probes.group_by("kind").len().iter_rows())
print(f"knowledge: {knowledge.height} rows, {paraphrases} paraphrases; probes: {probes.height} {per_kind}")
print(f"corpus: {corpus.height} documents")
assert knowledge.height == 120 and paraphrases == 1080 and probes.height == 1800, "unexpected counts"
assert per_kind == {"memorization": 600, "semantic": 600, "composition": 600}, per_kind
assert pq.read_table(folder / "knowledge.parquet").schema.field("facts").type.value_type.num_fields == 3
joined = probes.join(knowledge.select(pl.col("id").alias("knowledge_id"), "text"), on="knowledge_id")
cloze = joined.filter(pl.col("kind") == "memorization")
found = cloze.select(
    pl.struct("text", "prompt", "target")
    .map_elements(lambda r: f"{r['prompt']} {r['target']}" in r["text"], return_dtype=pl.Boolean)
    .all()
).item()
assert found, "a memorization probe is not a cut of its paragraph"
print("polars and pyarrow read every file; memorization probes occur in their paragraphs")
