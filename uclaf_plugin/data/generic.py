"""Datasets in generic files: fastText, LibMultiLabel TSV or JSONL, as a folder of splits or one file.

- fastText: ``__label__a __label__b some text`` (every ``__label__`` token is a label).
  As in fastText, ``__label__`` tokens may stand anywhere on the line, and a line may have none.
- LibMultiLabel TSV: ``labels<TAB>text`` (labels space-separated), or ``id<TAB>labels<TAB>text``. The column
  count is a property of the file: a header line (``labels<TAB>text``, ``id<TAB>labels<TAB>text``) names it,
  else the count most lines have (ties: the first line's); lines with another count are malformed (a TAB
  inside the text would otherwise turn words into labels).
- JSONL: ``{"text": "...", "labels": ["a", "b"]}`` per line.

Lines end with LF, CRLF or CR (one convention per file); a UTF-8 byte-order mark is dropped. The format comes
from the extension (``.jsonl``/``.json``/``.ndjson``, ``.tsv``) or, for other names, from the first non-blank
lines (``format=``, the CLI's ``--format``, names it where it cannot be told). In a folder, splits are found by file name: ``train*``, ``val*``/``dev*``
and ``test*``; a missing val split is carved from train with the seed. A single file is split into
train/val/test with the seed (``val_fraction``, ``test_fraction``).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

from .base import MultiLabelDataset, Split, SplitSource
from .textfiles import LineProblem, carved_sources, check_fraction, partition, read_lines, read_records

LABEL_PREFIX = "__label__"
SPLIT_PREFIXES = {"train": ("train",), "val": ("val", "dev"), "test": ("test",)}
EXTENSION_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv"}
FORMATS = ("fasttext", "tsv", "jsonl")
SNIFF_LINES = 100  # non-blank lines read to tell a file's format
TSV_HEADERS = {
    ("labels", "text"): 2,
    ("label", "text"): 2,
    ("id", "labels", "text"): 3,
    ("id", "label", "text"): 3,
}


def parse_fasttext_line(line: str) -> tuple[str, list[str]]:
    tokens = line.split()
    labels = [token[len(LABEL_PREFIX) :] for token in tokens if token.startswith(LABEL_PREFIX)]
    if "" in labels:
        raise LineProblem(f"empty label name after {LABEL_PREFIX!r}")
    return " ".join(token for token in tokens if not token.startswith(LABEL_PREFIX)), labels


def parse_tsv_line(line: str, columns: int = 2) -> tuple[str, list[str]]:
    """``labels<TAB>text`` (``columns=2``) or ``id<TAB>labels<TAB>text`` (``columns=3``)."""
    found = line.split("\t")
    if len(found) != columns:
        layout = "(labels, text)" if columns == 2 else "(id, labels, text)"
        raise LineProblem(
            f"expected {columns} tab-separated columns {layout} like the rest of the file, found {len(found)}"
            + ("; a TAB inside the text? Replace it with a space" if len(found) > columns else "")
        )
    return found[-1], found[-2].split()


def read_tsv(path: Path, strict: bool) -> Split:
    """A TSV file whose column count (2 or 3) is decided once for the file (see the module docstring)."""
    lines = [(lineno, line) for lineno, line in read_lines(path) if line.strip()]
    header = (
        TSV_HEADERS.get(tuple(column.strip().lower() for column in lines[0][1].split("\t")))
        if lines
        else None
    )
    if header:
        columns, lines = header, lines[1:]
    else:
        counts = Counter(len(line.split("\t")) for _, line in lines)
        usable = [count for count in counts if count in (2, 3)]
        first = len(lines[0][1].split("\t")) if lines else 2
        columns = max(usable, key=lambda count: (counts[count], count == first), default=2)
    return read_records(path, functools.partial(parse_tsv_line, columns=columns), strict, lines)


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


def detect_format(path: Path) -> str:
    """``fasttext``, ``tsv`` or ``jsonl``, from the extension or else the first non-blank lines."""
    if path.suffix.lower() in EXTENSION_FORMATS:
        return EXTENSION_FORMATS[path.suffix.lower()]
    lines = []
    for _, line in read_lines(path):
        if line.strip():
            lines.append(line)
        if len(lines) == SNIFF_LINES:
            break
    if not lines:
        raise ValueError(
            f"{path}: no documents (the file is empty or blank); a split needs at least one document"
        )
    if lines[0].lstrip().startswith("{"):
        return "jsonl"
    if any(token.startswith(LABEL_PREFIX) for line in lines for token in line.split()):
        return "fasttext"
    if "\t" in lines[0]:
        return "tsv"
    raise ValueError(
        f"cannot tell the format of {path}: expected fastText (`__label__a text`), LibMultiLabel TSV "
        '(`labels<TAB>text`) or JSONL (`{"text": ..., "labels": [...]}`); '
        "name it with --format fasttext|tsv|jsonl (format= in load_dataset)"
    )


def read_generic(path: Path, strict: bool, format: str | None = None) -> Split:
    """Read one file in a generic format (detected unless ``format`` is given)."""
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    format = format or detect_format(path)
    if format == "tsv":
        return read_tsv(path, strict)
    parse = parse_fasttext_line if format == "fasttext" else parse_jsonl_line
    return read_records(path, parse, strict)


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
