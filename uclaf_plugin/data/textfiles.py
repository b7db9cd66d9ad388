"""Reading helpers shared by the loaders: lines, malformed-line policy, seeded splitting."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .base import Split, SplitSource


class LineProblem(Exception):
    """Raised by a line parser: the message says what is wrong with the line."""


class MalformedLines:
    """Policy for malformed lines: raise a ValueError naming ``file:line`` (strict) or count and skip."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.count = 0

    def report(self, path: Path, lineno: int, problem: str) -> None:
        if self.strict:
            raise ValueError(
                f"{path}:{lineno}: {problem}. Fix or remove the line (load_dataset(..., strict=False) "
                "skips malformed lines; a whole file misread? name its format with --format)."
            )
        self.count += 1


def line_ending(path: Path) -> str:
    """The file's line end, decided once from its first 64 KiB: ``"\\n"`` (also CRLF), else ``"\\r"`` (old Mac)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    return "\r" if b"\r" in head and b"\n" not in head else "\n"


def read_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield ``(line number from 1, line)`` without the line end.

    One convention per file (LF, CRLF or CR, see :func:`line_ending`), so a stray ``\\r`` inside a line of an LF
    file stays part of the line. A UTF-8 byte-order mark at the start is dropped, not read as text.
    """
    codec = "utf-8-sig" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding
    try:
        with open(path, encoding=codec, newline=line_ending(path)) as handle:
            for lineno, line in enumerate(handle, start=1):
                yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not valid {encoding} text ({err.reason} at byte {err.start})") from err


def read_label_lines(path: Path) -> list[list[str]]:
    """One space-separated label list per line (AAPD ``label_*``, AttentionXML ``*_labels.txt``)."""
    return [line.split() for _, line in read_lines(path)]


def read_records(
    path: Path,
    parse_line: Callable[[str], tuple[str, list[str]]],
    strict: bool,
    lines: Iterable[tuple[int, str]] | None = None,
) -> Split:
    """Parse one ``(text, labels)`` record per non-blank line; malformed lines raise or are skipped.

    ``lines``: ``(line number, line)`` pairs already read from ``path`` (default: read it). A label repeated on
    one line counts once. A file with no document raises ValueError naming it.
    """
    malformed = MalformedLines(strict)
    texts: list[str] = []
    labels: list[list[str]] = []
    for lineno, line in read_lines(path) if lines is None else lines:
        if not line.strip():
            continue
        try:
            text, doc_labels = parse_line(line)
            if not text.strip():
                raise LineProblem("empty text")
        except LineProblem as problem:
            malformed.report(path, lineno, str(problem))
            continue
        texts.append(text)
        labels.append(list(dict.fromkeys(doc_labels)))
    if not texts:
        problem = f"all {malformed.count} lines are malformed" if malformed.count else "the file is empty"
        raise ValueError(f"{path}: no documents ({problem}); a split needs at least one document")
    return Split(texts, labels, skipped=malformed.count)


def read_parallel(text_path: Path, label_path: Path, strict: bool) -> Split:
    """Line-aligned text and label files (AAPD, AttentionXML); an empty text line is malformed."""
    texts = [line for _, line in read_lines(text_path)]
    labels = read_label_lines(label_path)
    if len(texts) != len(labels):
        raise ValueError(
            f"{text_path} has {len(texts)} lines but {label_path} has {len(labels)}; "
            "the two files must be line-aligned (one document per line)."
        )
    malformed = MalformedLines(strict)
    keep = []
    for index, text in enumerate(texts):
        if text.strip():
            keep.append(index)
        else:
            malformed.report(text_path, index + 1, "empty text")
    return Split([texts[i] for i in keep], [labels[i] for i in keep], skipped=malformed.count)


def require_file(path: Path, hint: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError naming it and saying what to do."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found. {hint}")
    return path


def check_fraction(name: str, value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value!r}")
    return value


def partition(num_docs: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Seeded random parts of ``range(num_docs)``: one per fraction, then the rest first.

    Returns ``[rest, part_1, ...]``, each sorted so documents keep their file order.
    """
    if num_docs < len(fractions) + 1:
        raise ValueError(f"cannot split {num_docs} documents into {len(fractions) + 1} non-empty parts")
    order = np.random.default_rng(seed).permutation(num_docs)
    sizes = [max(1, round(num_docs * fraction)) for fraction in fractions]
    bounds = np.cumsum([0, *sizes])
    if bounds[-1] >= num_docs:
        raise ValueError(f"fractions {list(fractions)} leave no documents of {num_docs} for training")
    parts = [order[start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
    return [np.sort(order[bounds[-1] :]), *(np.sort(part) for part in parts)]


def carved_sources(
    load_full: Callable[[], Split], files: tuple[Path, ...], val_fraction: float, seed: int, hint: str = ""
) -> dict[str, SplitSource]:
    """``train`` and ``val`` sources cut from one loaded split with a seeded permutation."""
    check_fraction("val_fraction", val_fraction)

    @functools.cache
    def parts() -> tuple[Split, Split]:
        full = load_full()
        train_rows, val_rows = partition(len(full), [val_fraction], seed)
        return full.take(train_rows, skipped=full.skipped), full.take(val_rows)

    return {
        "train": SplitSource(lambda: parts()[0], files, hint),
        "val": SplitSource(lambda: parts()[1], files, hint),
    }
