"""EUR-Lex in the AttentionXML / LightXML raw-text layout; val is carved from train with the seed."""

from __future__ import annotations

import functools
from pathlib import Path

from .base import MultiLabelDataset, SplitSource
from .paths import dataset_folder
from .textfiles import carved_sources, read_parallel

MANUAL = (
    "the AttentionXML EUR-Lex archive (https://github.com/yourh/AttentionXML, data link in its README: "
    "EUR-Lex.tar.gz)"
)


def load_eurlex(data_dir: Path, *, seed: int, val_fraction: float, strict: bool) -> MultiLabelDataset:
    """EUR-Lex: EU legal acts, EuroVoc labels (AttentionXML raw-text files in ``eurlex/``)."""
    root = dataset_folder(data_dir, "eurlex", ("eurlex", "EUR-Lex"))

    def pair(split: str) -> tuple[Path, Path]:
        return root / f"{split}_texts.txt", root / f"{split}_labels.txt"

    hint = f"Download {MANUAL} and put {{train,test}}_texts.txt and {{train,test}}_labels.txt in {root}."
    sources = carved_sources(
        functools.partial(read_parallel, *pair("train"), strict), pair("train"), val_fraction, seed, hint
    )
    sources["test"] = SplitSource(functools.partial(read_parallel, *pair("test"), strict), pair("test"), hint)
    return MultiLabelDataset("eurlex", sources)
