"""The toy corpus of issue #17: 3 labels (sports, politics, tech), 60/15/20 documents, 1-2 labels each."""

from __future__ import annotations

import random
from pathlib import Path

LABELS = ("sports", "politics", "tech")
WORDS = {
    "sports": ("goal", "team", "match", "score"),
    "politics": ("vote", "party", "law", "senate"),
    "tech": ("chip", "code", "data", "robot"),
}
SIZES = {"train": 60, "val": 15, "test": 20}


def toy_documents(split: str, seed: int = 0) -> list[tuple[list[str], str]]:
    """``(labels, text)`` pairs: each label contributes three of its own words, plus ``the of``."""
    rng = random.Random(f"{seed}-{split}")
    documents = []
    for _ in range(SIZES[split]):
        labels = rng.sample(LABELS, rng.choice([1, 2]))
        words = [rng.choice(WORDS[label]) for label in labels for _ in range(3)] + ["the", "of"]
        rng.shuffle(words)
        documents.append((labels, " ".join(words)))
    return documents


def write_toy(folder: Path, kind: str = "fasttext", newline: str = "\n") -> Path:
    """``train/val/test`` files of the toy corpus: ``kind`` is ``fasttext`` (``.txt``) or ``tsv``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in SIZES:
        if kind == "fasttext":
            lines = [
                " ".join(f"__label__{label}" for label in labels) + " " + text
                for labels, text in toy_documents(split)
            ]
            name = f"{split}.txt"
        else:
            lines = [" ".join(labels) + "\t" + text for labels, text in toy_documents(split)]
            name = f"{split}.tsv"
        (folder / name).write_bytes(newline.join(lines).encode() + newline.encode())
    return folder
