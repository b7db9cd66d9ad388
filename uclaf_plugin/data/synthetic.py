"""A seeded synthetic multi-label corpus with correlated labels and partial relevance (no files).

Labels fall into groups; a document picks a main group and mostly labels from it, so labels of one
group co-occur. Each label has its own topic words, and each group shared words. A document's words
come from its labels' vocabularies in proportion to random relevance weights (a minor label may get
almost no words), from its group's shared words, and from background noise words; with probability
``overlap`` a topic word is borrowed from a sibling label of the same group. Words are lowercase
pseudo-words made of syllables ("ka", "lomi", "zenu"), so a WordPiece tokenizer splits them into pieces.

``difficulty`` picks defaults for ``noise`` and ``overlap`` ("easy", "normal", "hard"); explicit values
win. A TF-IDF one-vs-rest linear SVM reaches P@1 about 1.0 on "easy", 0.93 on "normal" and 0.66 on
"hard" (2,000 documents, seeds 0-2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .base import MultiLabelDataset, Split, SplitSource
from .textfiles import check_fraction, partition

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
COUNTS = ("num_docs", "num_labels", "num_groups", "doc_length", "words_per_label", "words_per_group")
DIFFICULTY = {"easy": (0.2, 0.2), "normal": (0.5, 0.55), "hard": (0.75, 0.7)}


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the generator (see the module docstring)."""

    num_docs: int = 2000
    num_labels: int = 20
    num_groups: int = 5
    doc_length: int = 40
    noise: float = 0.5
    overlap: float = 0.55
    words_per_label: int = 8
    words_per_group: int = 6
    background_words: int = 300
    group_share: float = 0.15
    mean_labels: float = 2.0
    in_group: float = 0.85

    def __post_init__(self):
        for name in COUNTS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_groups > self.num_labels:
            raise ValueError(f"num_groups ({self.num_groups}) must not exceed num_labels ({self.num_labels})")
        for name in ("noise", "overlap", "group_share", "in_group"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.noise + self.group_share > 1.0:
            raise ValueError(f"noise + group_share must be at most 1, got {self.noise + self.group_share}")
        if self.mean_labels < 1.0:
            raise ValueError(f"mean_labels must be at least 1, got {self.mean_labels}")


def make_synthetic(
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    difficulty: str = "normal",
    noise: float | None = None,
    overlap: float | None = None,
    **spec,
) -> MultiLabelDataset:
    """The synthetic corpus as a dataset; ``spec`` takes the other `SyntheticSpec` fields."""
    if difficulty not in DIFFICULTY:
        raise ValueError(f"difficulty must be one of {sorted(DIFFICULTY)}, got {difficulty!r}")
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)
    unknown = set(spec) - {f.name for f in fields(SyntheticSpec)} - {"noise", "overlap"}
    if unknown:
        raise ValueError(f"synthetic does not take {sorted(unknown)}; it takes the SyntheticSpec fields")
    preset_noise, preset_overlap = DIFFICULTY[difficulty]
    spec = SyntheticSpec(
        noise=preset_noise if noise is None else noise,
        overlap=preset_overlap if overlap is None else overlap,
        **spec,
    )
    label_names, corpus = generate(spec, seed)
    parts = partition(len(corpus), [val_fraction, test_fraction], seed)
    sources = {
        split: SplitSource(lambda rows=rows: corpus.take(rows))
        for split, rows in zip(("train", "val", "test"), parts, strict=True)
    }
    return MultiLabelDataset("synthetic", sources, label_names=label_names)


def generate(spec: SyntheticSpec, seed: int) -> tuple[list[str], Split]:
    """``(label names, all documents)``, deterministic given ``seed``."""
    rng = np.random.default_rng(seed)
    sizes = (
        spec.num_labels * spec.words_per_label,
        spec.num_groups * spec.words_per_group,
        spec.background_words,
    )
    words = pseudo_words(sum(sizes), rng)
    label_vocab = words[: sizes[0]].reshape(spec.num_labels, spec.words_per_label)
    group_vocab = words[sizes[0] : sizes[0] + sizes[1]].reshape(spec.num_groups, spec.words_per_group)
    background = words[sizes[0] + sizes[1] :]
    group_of = np.arange(spec.num_labels) * spec.num_groups // spec.num_labels
    popularity = 1.0 / np.arange(1, spec.num_labels + 1) ** 0.7
    rng.shuffle(popularity)
    texts, labels = [], []
    for _ in range(spec.num_docs):
        doc_labels = _draw_labels(spec, group_of, popularity, rng)
        texts.append(
            " ".join(_draw_words(spec, doc_labels, label_vocab, group_vocab, background, group_of, rng))
        )
        labels.append([str(label_vocab[j, 0]) for j in doc_labels])
    return [str(name) for name in label_vocab[:, 0]], Split(texts, labels)


def pseudo_words(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct lowercase words of 1 to 3 consonant-vowel syllables."""
    syllables = [c + v for c in CONSONANTS for v in VOWELS]
    words: dict[str, None] = {}
    while len(words) < count:
        length = rng.choice([1, 2, 3], p=[0.05, 0.55, 0.4])
        words["".join(rng.choice(syllables, size=length))] = None
    return np.array(list(words))


def _draw_labels(spec: SyntheticSpec, group_of: np.ndarray, popularity: np.ndarray, rng) -> list[int]:
    count = min(1 + rng.poisson(spec.mean_labels - 1.0), spec.num_labels)
    group = group_of[rng.choice(spec.num_labels, p=popularity / popularity.sum())]
    chosen: list[int] = []
    while len(chosen) < count:
        pool = np.flatnonzero(group_of == group) if rng.random() < spec.in_group or not chosen else None
        pool = np.setdiff1d(np.arange(spec.num_labels) if pool is None else pool, chosen)
        if pool.size == 0:
            pool = np.setdiff1d(np.arange(spec.num_labels), chosen)
        weights = popularity[pool]
        chosen.append(int(rng.choice(pool, p=weights / weights.sum())))
    return chosen


def _draw_words(spec, doc_labels, label_vocab, group_vocab, background, group_of, rng) -> np.ndarray:
    relevance = rng.dirichlet(np.ones(len(doc_labels)))
    source = rng.choice(
        3, size=spec.doc_length, p=[spec.noise, spec.group_share, 1 - spec.noise - spec.group_share]
    )
    owner = np.asarray(doc_labels)[rng.choice(len(doc_labels), size=spec.doc_length, p=relevance)]
    borrow = rng.random(spec.doc_length) < spec.overlap
    owner = np.where(borrow, _siblings(owner, group_of, rng), owner)
    topic = label_vocab[owner, rng.integers(spec.words_per_label, size=spec.doc_length)]
    shared = group_vocab[group_of[owner], rng.integers(spec.words_per_group, size=spec.doc_length)]
    noise = background[rng.zipf(1.3, size=spec.doc_length) % len(background)]
    return np.choose(source, [noise, shared, topic])


def _siblings(labels: np.ndarray, group_of: np.ndarray, rng) -> np.ndarray:
    """A random label of the same group for each of ``labels`` (itself when it has no sibling)."""
    groups = group_of[labels]
    first = np.searchsorted(group_of, groups)
    size = np.bincount(group_of)[groups]
    return first + (rng.random(len(labels)) * size).astype(np.int64)
