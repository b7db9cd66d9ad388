"""`Split`, `SplitSource` and `MultiLabelDataset`: what every loader returns.

Label order (how labels unseen in train are handled): unless a loader fixes the names (GoEmotions'
``labels.txt``, the synthetic corpus), ``label_names`` holds every label of every split whose labels
can be read: first the labels seen in train, sorted, then the others, sorted. A model trained on the
train split never sees a positive for the unseen ones, so they count as misses in evaluation (the XMC
convention) without any special handling; ``unseen_test_labels()`` and ``stats()`` report them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """One split: ``texts[i]`` has the labels ``labels[i]``; ``skipped`` malformed lines were left out."""

    texts: list[str]
    labels: list[list[str]]
    skipped: int = 0

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError(f"Split has {len(self.texts)} texts but {len(self.labels)} label lists")

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: Sequence[int], skipped: int = 0) -> Split:
        """The documents at ``indices``, in that order."""
        return Split([self.texts[i] for i in indices], [self.labels[i] for i in indices], skipped)


@dataclass(frozen=True)
class SplitSource:
    """How to load one split, run on first access.

    ``files``: what ``load`` reads (a missing one makes the split unavailable); ``hint``: what to do
    then; ``load_labels``: a cheaper labels-only reader (AAPD's label files, usable without the texts).
    """

    load: Callable[[], Split]
    files: tuple[Path, ...] = ()
    hint: str = ""
    load_labels: Callable[[], list[list[str]]] | None = None

    def missing_files(self) -> list[Path]:
        return [path for path in self.files if not path.is_file()]


class MultiLabelDataset:
    """A named multi-label text dataset with lazily loaded ``train``/``val``/``test`` splits."""

    def __init__(self, name: str, sources: dict[str, SplitSource], label_names: Sequence[str] | None = None):
        unknown = set(sources) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)}; use {SPLIT_NAMES}")
        self.name = name
        self._sources = sources
        self._splits: dict[str, Split] = {}
        self._label_names = list(label_names) if label_names is not None else None
        self._label_index: dict[str, int] | None = None

    @classmethod
    def from_splits(
        cls, name: str, splits: dict[str, Split], label_names: Sequence[str] | None = None
    ) -> MultiLabelDataset:
        """A dataset from splits already in memory."""
        return cls(
            name, {split: SplitSource(lambda s=data: s) for split, data in splits.items()}, label_names
        )

    def __repr__(self) -> str:
        return f"MultiLabelDataset({self.name!r}, splits={self.splits_available()})"

    # splits -------------------------------------------------------------------------------------
    def split(self, name: str) -> Split:
        """The split ``name`` (loaded on first use); FileNotFoundError if its files are missing."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; use one of {SPLIT_NAMES}")
        if name not in self._splits:
            source = self._sources.get(name)
            if source is None:
                raise FileNotFoundError(
                    f"{self.name} has no {name} split; available: {self.splits_available()}"
                )
            missing = source.missing_files()
            if missing:
                raise FileNotFoundError(
                    f"{self.name}: the {name} split needs {missing[0]}, which does not exist. {source.hint}"
                )
            self._splits[name] = source.load()
        return self._splits[name]

    @property
    def train(self) -> Split:
        return self.split("train")

    @property
    def val(self) -> Split:
        return self.split("val")

    @property
    def test(self) -> Split:
        return self.split("test")

    def source_files(self) -> list[Path]:
        """Every file the splits read (each once, in split order); empty for data made in memory."""
        return list(dict.fromkeys(path for source in self._sources.values() for path in source.files))

    def splits_available(self) -> list[str]:
        """Names of the splits whose files are all present."""
        return [
            name for name in SPLIT_NAMES if name in self._sources and not self._sources[name].missing_files()
        ]

    @property
    def skipped(self) -> dict[str, int]:
        """Malformed lines skipped so far (``strict=False``), per loaded split."""
        return {name: split.skipped for name, split in self._splits.items()}

    def split_labels(self, name: str) -> list[list[str]] | None:
        """Labels of a split without needing its texts, or None where they cannot be read."""
        if name in self.splits_available():
            return self.split(name).labels
        source = self._sources.get(name)
        if source is None or source.load_labels is None:
            return None
        try:
            return source.load_labels()
        except FileNotFoundError:
            return None

    # labels -------------------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        """Label names in a fixed order: the columns of ``binarize`` (see the module docstring)."""
        if self._label_names is None:
            train_labels = {label for doc in self.split_labels("train") or [] for label in doc}
            others = {
                label
                for name in ("val", "test")
                for doc in self.split_labels(name) or []
                for label in doc
                if label not in train_labels
            }
            self._label_names = sorted(train_labels) + sorted(others)
        return self._label_names

    def binarize(
        self, labels: Sequence[Sequence[str]], *, return_unknown: bool = False
    ) -> sp.csr_matrix | tuple[sp.csr_matrix, np.ndarray]:
        """Multi-hot ``(n, L)`` float32 CSR matrix in ``label_names`` order.

        Labels outside ``label_names`` get no column; with ``return_unknown=True`` their count per
        document comes back too.
        """
        if self._label_index is None:
            self._label_index = {label: j for j, label in enumerate(self.label_names)}
        index = self._label_index
        indptr, indices, unknown = [0], [], np.zeros(len(labels), dtype=np.int64)
        for row, doc in enumerate(labels):
            columns = sorted({index[label] for label in doc if label in index})
            unknown[row] = len(set(doc)) - len(columns)
            indices.extend(columns)
            indptr.append(len(indices))
        matrix = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(labels), len(index)),
        )
        return (matrix, unknown) if return_unknown else matrix

    def unseen_test_labels(self) -> list[str]:
        """Labels of the test split never seen in train (sorted); needs both splits' labels."""
        train, test = self.split_labels("train"), self.split_labels("test")
        if train is None or test is None:
            raise FileNotFoundError(f"{self.name}: unseen test labels need the train and test labels")
        seen = {label for doc in train for label in doc}
        return sorted({label for doc in test for label in doc} - seen)

    # statistics ---------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Sizes, label and length statistics (loads every available split).

        Label frequencies and the ``(L, L)`` co-occurrence matrix (CSR, counts on the diagonal) come
        from the train labels, or from the first split with readable labels.
        """
        labels = {name: self.split_labels(name) for name in SPLIT_NAMES}
        labels = {name: docs for name, docs in labels.items() if docs is not None}
        reference = next(iter(labels), None)
        matrix = self.binarize(labels[reference]) if reference else sp.csr_matrix((0, len(self.label_names)))
        counts = np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64)
        try:
            unseen: int | None = len(self.unseen_test_labels())
        except FileNotFoundError:
            unseen = None
        return {
            "name": self.name,
            "num_labels": len(self.label_names),
            "documents": {name: len(docs) for name, docs in labels.items()},
            "labels_per_document": {
                name: _mean(len(set(doc)) for doc in docs) for name, docs in labels.items()
            },
            "words_per_document": {
                name: _mean(len(text.split()) for text in self.split(name).texts)
                for name in self.splits_available()
            },
            "label_stats_split": reference,
            "label_frequencies": dict(zip(self.label_names, counts.tolist(), strict=True)),
            "cooccurrence": (matrix.T @ matrix).astype(np.int64).tocsr(),
            "unseen_test_labels": unseen,
            "skipped": dict(self.skipped),
        }


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
