"""The peer of `gen-facts bios` in bench/bios.sh: the same bioS generation in plain Python, in
memory (no Parquet), from the same data files — unique full names by rejection, six uniform
attributes, multiM entries with templates drawn per entry and sentences shuffled, the name in the
first sentence and pronouns after. It stands for a typical Python generator of this dataset.

Usage: python bench/bios_peer.py PEOPLE ENTRIES   (prints seconds spent generating)
"""

import random
import re
import sys
import time
import tomllib
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "bios"
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def pool(name):
    lines = (DATA / "pools" / name).read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def main():
    people, entries = int(sys.argv[1]), int(sys.argv[2])
    first, middle, last = pool("first_names.txt"), pool("middle_names.txt"), pool("last_names.txt")
    cities, universities, majors = pool("birth_cities.txt"), pool("universities.txt"), pool("majors.txt")
    companies = [tuple(part.strip() for part in line.split(";")) for line in pool("companies.txt")]
    templates = [a["sentences"] for a in tomllib.loads((DATA / "templates.toml").read_text())["attribute"]]
    started = time.perf_counter()
    rng = random.Random(1)
    taken, texts = set(), []
    for _ in range(people):
        while True:
            name = (rng.choice(first), rng.choice(middle), rng.choice(last))
            if name not in taken:
                taken.add(name)
                break
        full = " ".join(name)
        company, company_city = rng.choice(companies)
        values = [f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1900, 2099)}",
                  rng.choice(cities), rng.choice(universities), rng.choice(majors), company, company_city]
        pronoun, possessive, plural = rng.choice([("He", "his", False), ("She", "her", False), ("They", "their", True)])
        for _ in range(entries):
            order = list(range(6))
            rng.shuffle(order)
            sentences = []
            for position, attribute in enumerate(order):
                subject, is_plural = (full, False) if position == 0 else (pronoun, plural)
                sentence = rng.choice(templates[attribute])
                sentence = (sentence.replace("{Subject}", subject).replace("{their}", possessive)
                            .replace("{was}", "were" if is_plural else "was")
                            .replace("{has}", "have" if is_plural else "has")
                            .replace("{is}", "are" if is_plural else "is")
                            .replace("{value}", values[attribute]))
                sentences.append(sentence)
            texts.append(" ".join(sentences))
    rng.shuffle(texts)
    elapsed = time.perf_counter() - started
    assert len(texts) == people * entries and not re.search(r"\{\w+\}", texts[0])
    print(f"{elapsed:.3f}")


main()
