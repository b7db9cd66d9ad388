"""``goemotions-sample``: a small sample of GoEmotions shipped inside the package (no download, no data folder).

3,000 Reddit comments with 28 emotion labels (27 emotions and neutral; Demszky et al., ACL 2020): a seeded random
sample of 2,000 comments of the official train split, 400 of dev (the validation split) and 600 of test, in the
release's TSV format (``text<TAB>label ids<TAB>comment id``), gzip-compressed. ``embedded/goemotions_sample/README.md``
states the source and the license (the release's Apache License 2.0, copied beside it). :func:`write_goemotions_sample`
re-creates the files from a copy of the full release; a test checks that the shipped files equal its output.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np

from .base import MultiLabelDataset, Split, SplitSource
from .goemotions import FILES, parse_goemotions_line
from .textfiles import LineProblem, MalformedLines, read_lines

SAMPLE_DIR = Path(__file__).parent / "embedded" / "goemotions_sample"
SAMPLE_SIZES = {"train": 2000, "val": 400, "test": 600}
SAMPLE_SEED = 0


def load_goemotions_sample(
    data_dir: Path, *, seed: int, val_fraction: float, strict: bool
) -> MultiLabelDataset:
    """GoEmotions sample: 3,000 Reddit comments, 28 emotions, shipped in the package (``make demo``'s corpus)."""
    names = [line.strip() for _, line in read_lines(SAMPLE_DIR / "labels.txt") if line.strip()]
    parse = functools.partial(parse_goemotions_line, names)
    sources = {
        split: SplitSource(
            functools.partial(_read_gzip_records, _sample_file(split), parse, strict), (_sample_file(split),)
        )
        for split in FILES
    }
    return MultiLabelDataset("goemotions-sample", sources, label_names=names)


def write_goemotions_sample(
    source: Path, destination: Path = SAMPLE_DIR, seed: int = SAMPLE_SEED
) -> list[Path]:
    """Sample ``SAMPLE_SIZES`` lines of each split of the full GoEmotions TSV files in ``source`` into ``destination``.

    Lines keep their file order; the ``.tsv.gz`` files are written with a fixed timestamp, so the bytes repeat.
    """
    rng = np.random.default_rng(seed)
    written = []
    for split, file in FILES.items():
        lines = (Path(source) / file).read_text(encoding="utf-8").splitlines(keepends=True)
        chosen = np.sort(rng.choice(len(lines), SAMPLE_SIZES[split], replace=False))
        path = Path(destination) / f"{file}.gz"
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
            handle.write("".join(lines[i] for i in chosen).encode("utf-8"))
        written.append(path)
    return written


def _sample_file(split: str) -> Path:
    return SAMPLE_DIR / f"{FILES[split]}.gz"


def _read_gzip_records(path: Path, parse_line, strict: bool) -> Split:
    """One ``(text, labels)`` record per line of a gzip-compressed GoEmotions TSV file."""
    malformed = MalformedLines(strict)
    texts, labels = [], []
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as handle:
        for lineno, line in enumerate(handle, start=1):
            try:
                text, doc_labels = parse_line(line.rstrip("\r\n"))
            except LineProblem as problem:
                malformed.report(path, lineno, str(problem))
                continue
            texts.append(text)
            labels.append(doc_labels)
    return Split(texts, labels, skipped=malformed.count)
