"""Writes a synthetic English-like corpus (Parquet, `text` column) for bench/inject.sh.

Words come from a Zipf distribution over a fixed vocabulary of made-up and common words, with
punctuation, numbers and paragraph breaks, so that BPE merges and pre-tokenization see realistic
variety. Seeded: the same arguments give the same file.
"""

import itertools
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def main(path: str, documents: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    common = ("the of and to in a is that for it as was with be by on not he this are or his "
              "from at which but have an they you were her she there been one all we their").split()
    syllables = ["ka", "zor", "gon", "li", "dus", "mer", "ta", "vin", "os", "ri", "an", "bel", "qu", "ex"]
    invented = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(6000)})
    vocabulary = common + invented
    # Cumulative weights once: `choices` would otherwise rebuild them on every call.
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocabulary))))
    texts = []
    for _ in range(documents):
        paragraphs = []
        for _ in range(rng.randint(1, 6)):
            sentences = []
            for _ in range(rng.randint(2, 9)):
                words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(4, 24))
                if rng.random() < 0.3:
                    words.insert(rng.randrange(len(words)), str(rng.randint(1, 2024)))
                words[0] = words[0].capitalize()
                sentences.append(" ".join(words) + rng.choice([".", ".", ".", "?", "!", ";"]))
            paragraphs.append(" ".join(sentences))
        texts.append("\n\n".join(paragraphs))
    pq.write_table(pa.table({"text": texts}), path, compression="zstd")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
