"""Datasets in generic files: fastText, LibMultiLabel TSV or JSONL, as a folder of splits or one file.

- fastText: ``__label__a __label__b some text`` (every ``__label__`` token is a label).
- LibMultiLabel TSV: ``labels<TAB>text`` (labels space-separated), or ``id<TAB>labels<TAB>text``.
- JSONL: ``{"text": "...", "labels": ["a", "b"]}`` per line.

The format comes from the extension (``.jsonl``/``.json``/``.ndjson``, ``.tsv``) or, for other names,
from the first non-blank line. In a folder, splits are found by file name: ``train*``, ``val*``/``dev*``
and ``test*``; a missing val split is carved from train with the seed. A single file is split into
train/val/test with the seed (``val_fraction``, ``test_fraction``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

from .base import MultiLabelDataset, Split, SplitSource
from .textfiles import LineProblem, carved_sources, check_fraction, partition, read_lines, read_records

LABEL_PREFIX = "__label__"
SPLIT_PREFIXES = {"train": ("train",), "val": ("val", "dev"), "test": ("test",)}
EXTENSION_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv"}


def parse_fasttext_line(line: str) -> tuple[str, list[str]]:
    tokens = line.split()
    labels = [token[len(LABEL_PREFIX) :] for token in tokens if token.startswith(LABEL_PREFIX)]
    if "" in labels:
        raise LineProblem(f"empty label name after {LABEL_PREFIX!r}")
    return " ".join(token for token in tokens if not token.startswith(LABEL_PREFIX)), labels


def parse_tsv_line(line: str) -> tuple[str, list[str]]:
    columns = line.split("\t")
    if len(columns) not in (2, 3):
        raise LineProblem(
            f"expected 2 tab-separated columns (labels, text) or 3 (id, labels, text), found {len(columns)}"
        )
    return columns[-1], columns[-2].split()


def parse_jsonl_line(line: str) -> tuple[str, list[str]]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise LineProblem(f"bad JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise LineProblem('expected an object with a string "text" and a list "labels"')
    labels = record.get("labels")
    if not isinstance(labels, list) or not all(isinstance(label, str | int) for label in labels):
        raise LineProblem('"labels" must be a list of strings')
    return record["text"], [str(label) for label in labels]


PARSERS: dict[str, Callable[[str], tuple[str, list[str]]]] = {
    "fasttext": parse_fasttext_line,
    "tsv": parse_tsv_line,
    "jsonl": parse_jsonl_line,
}


def detect_format(path: Path) -> str:
    """``fasttext``, ``tsv`` or ``jsonl``, from the extension or else the first non-blank line."""
    if path.suffix.lower() in EXTENSION_FORMATS:
        return EXTENSION_FORMATS[path.suffix.lower()]
    first = next((line for _, line in read_lines(path) if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    if first.lstrip().startswith(LABEL_PREFIX):
        return "fasttext"
    if "\t" in first:
        return "tsv"
    raise ValueError(
        f"cannot tell the format of {path}: expected fastText (`__label__a text`), LibMultiLabel TSV "
        '(`labels<TAB>text`) or JSONL (`{"text": ..., "labels": [...]}`); '
        'pass format="fasttext", "tsv" or "jsonl"'
    )


def read_generic(path: Path, strict: bool, format: str | None = None) -> Split:
    """Read one file in a generic format (detected unless ``format`` is given)."""
    format = format or detect_format(path)
    if format not in PARSERS:
        raise ValueError(f"format must be one of {sorted(PARSERS)}, got {format!r}")
    return read_records(path, PARSERS[format], strict)


def load_generic(
    path: str | Path,
    *,
    seed: int,
    val_fraction: float,
    strict: bool,
    format: str | None = None,
    test_fraction: float = 0.2,
) -> MultiLabelDataset:
    """A dataset from a folder of split files or from one file (split with the seed)."""
    path = Path(path).expanduser()
    read = functools.partial(read_generic, strict=strict, format=format)
    if path.is_dir():
        return MultiLabelDataset(path.name, _folder_sources(path, read, seed, val_fraction))
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass a dataset name, a folder of splits or a file")
    return MultiLabelDataset(path.stem, _single_file_sources(path, read, seed, val_fraction, test_fraction))


def _folder_sources(folder: Path, read, seed: int, val_fraction: float) -> dict[str, SplitSource]:
    found = {split: _find_split_file(folder, split) for split in SPLIT_PREFIXES}
    if found["train"] is None:
        raise FileNotFoundError(
            f"no train file in {folder}: name the splits train.*, val.* (or valid.*, dev.*) and test.*"
        )
    hint = f"The split files of {folder} changed while loading; check the folder."
    sources = {
        split: SplitSource(functools.partial(read, file), (file,), hint)
        for split, file in found.items()
        if file
    }
    if found["val"] is None:
        sources.update(
            carved_sources(functools.partial(read, found["train"]), (found["train"],), val_fraction, seed)
        )
    return sources


def _find_split_file(folder: Path, split: str) -> Path | None:
    matches = [
        file
        for file in sorted(folder.iterdir())
        if file.is_file()
        and not file.name.startswith(".")
        and file.name.lower().startswith(SPLIT_PREFIXES[split])
    ]
    if len(matches) > 1:
        raise ValueError(f"several {split} files in {folder}: {[m.name for m in matches]}; keep one")
    return matches[0] if matches else None


def _single_file_sources(
    path: Path, read, seed: int, val_fraction: float, test_fraction: float
) -> dict[str, SplitSource]:
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)

    @functools.cache
    def parts() -> dict[str, Split]:
        full = read(path)
        train, val, test = partition(len(full), [val_fraction, test_fraction], seed)
        return {
            "train": full.take(train, skipped=full.skipped),
            "val": full.take(val),
            "test": full.take(test),
        }

    return {
        split: SplitSource(lambda split=split: parts()[split], (path,)) for split in ("train", "val", "test")
    }
