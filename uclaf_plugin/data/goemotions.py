"""GoEmotions: ``{train,dev,test}.tsv`` (``text<TAB>label ids<TAB>comment id``, no header), ``labels.txt``."""

from __future__ import annotations

import functools
from pathlib import Path

from .base import MultiLabelDataset, SplitSource
from .paths import dataset_folder
from .textfiles import LineProblem, read_lines, read_records, require_file

MANUAL = (
    "https://github.com/google-research/google-research/tree/master/goemotions/data "
    "(train.tsv, dev.tsv, test.tsv, and emotions.txt saved as labels.txt)"
)
FILES = {"train": "train.tsv", "val": "dev.tsv", "test": "test.tsv"}


def load_goemotions(data_dir: Path, *, seed: int, val_fraction: float, strict: bool) -> MultiLabelDataset:
    """GoEmotions: Reddit comments, 28 emotion labels (TSV files in ``goemotions/``; dev.tsv is val)."""
    root = dataset_folder(data_dir, "goemotions", ("goemotions", "GoEmotions"))
    hint = f"Download the files from {MANUAL} into {root}."
    names = [line.strip() for _, line in read_lines(require_file(root / "labels.txt", hint)) if line.strip()]
    parse = functools.partial(parse_goemotions_line, names)
    sources = {
        split: SplitSource(functools.partial(read_records, root / file, parse, strict), (root / file,), hint)
        for split, file in FILES.items()
    }
    return MultiLabelDataset("goemotions", sources, label_names=names)


def parse_goemotions_line(names: list[str], line: str) -> tuple[str, list[str]]:
    """``text<TAB>comma-separated label ids<TAB>comment id`` -> (text, label names); quotes are literal."""
    columns = line.split("\t")
    if len(columns) != 3:
        raise LineProblem(
            f"expected 3 tab-separated columns (text, label ids, comment id), found {len(columns)}"
        )
    text, ids, _comment_id = columns
    if not ids.strip():
        raise LineProblem("no label ids")
    labels = []
    for raw in ids.split(","):
        index = int(raw) if raw.strip().isascii() and raw.strip().isdigit() else -1
        if not 0 <= index < len(names):
            raise LineProblem(f"unknown label id {raw!r} (labels.txt has ids 0..{len(names) - 1})")
        labels.append(names[index])
    return text, labels
