"""AAPD (arXiv abstracts, SGM layout): ``text_{train,val,test}`` and ``label_{train,val,test}``."""

from __future__ import annotations

import functools
from pathlib import Path

from .base import MultiLabelDataset, SplitSource
from .paths import dataset_folder
from .textfiles import read_label_lines, read_parallel, require_file

MANUAL = (
    "the SGM release of AAPD (https://github.com/lancopku/SGM, data link in its README; also "
    "Castor-data datasets/AAPD)"
)


def load_aapd(data_dir: Path, *, seed: int, val_fraction: float, strict: bool) -> MultiLabelDataset:
    """AAPD: arXiv abstracts, 54 subject labels (SGM files in ``aapd/``; val and test are fixed files)."""
    root = dataset_folder(data_dir, "aapd", ("aapd", "AAPD"))
    sources = {split: _split_source(root, split, strict) for split in ("train", "val", "test")}
    return MultiLabelDataset("aapd", sources)


def _split_source(root: Path, split: str, strict: bool) -> SplitSource:
    text_path, label_path = root / f"text_{split}", root / f"label_{split}"
    hint = f"Download {MANUAL} and put text_{split} and label_{split} in {root}."
    if split == "train" and label_path.is_file() and not text_path.is_file():
        hint = (
            "This copy of AAPD is partial: it has label_train but no text_train. Train on another split "
            "(e.g. `--train-split val`, or dataset.val), or put the full release's text_train in "
            f"{root} (download {MANUAL}; `uclaf-bench data fetch aapd` says the same)."
        )
    return SplitSource(
        load=functools.partial(read_parallel, text_path, label_path, strict),
        files=(text_path, label_path),
        hint=hint,
        load_labels=lambda: read_label_lines(require_file(label_path, hint)),
    )
