"""EURLEX57K (Chalkidis et al., ACL 2019): EU legal acts with EuroVoc concepts, the release's own splits.

Files in ``eurlex57k/``: ``{train,dev,test}.jsonl.xz`` (one act a line: ``celex_id``, ``type``, ``concepts``,
``title``, ``header``, ``recitals``, ``main_body`` (a list of articles)) and ``EURLEX57K.json`` (every EuroVoc
concept id -> ``label``, ``alt_labels``, ``parents``). ``dev`` is the val split. The labels are concept ids; the
descriptor names and the parent relation come from ``EURLEX57K.json``.

Parsing a split (xz + JSON, ~4 s for train) dominates loading, so the parsed zones are cached in the user cache
directory (``$UCLAF_CACHE``, else ``$XDG_CACHE_HOME/uclaf-plugin``, else ``~/.cache/uclaf-plugin``) as one ``.npz``
per split (UTF-8 text blobs and offsets, no pickle), keyed by the SHA-256 of the source file and written
atomically; a cached split loads in a fraction of that (``benchmarks/eurlex57k_speed.py`` measures both).
"""

from __future__ import annotations

import functools
import hashlib
import json
import lzma
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..files import atomic_write
from .base import MultiLabelDataset, Split, SplitSource
from .paths import dataset_folder
from .textfiles import MalformedLines

ZONES = ("title", "header", "recitals", "main_body")
DEFAULT_ZONES = ("header", "recitals", "main_body")
FILES = {"train": "train.jsonl.xz", "val": "dev.jsonl.xz", "test": "test.jsonl.xz"}
DESCRIPTORS_FILE = "EURLEX57K.json"
CACHE_ENV = "UCLAF_CACHE"
CACHE_FORMAT = 1  # bump when the cached layout or the parsing changes
MANUAL = (
    "the EURLEX57K release (Chalkidis et al. 2019, http://nlp.cs.aueb.gr/software_and_datasets/EURLEX57K/), "
    "one JSON object a line in {train,dev,test}.jsonl.xz, and EURLEX57K.json"
)


def load_eurlex57k(
    data_dir: Path,
    *,
    seed: int,
    val_fraction: float,
    strict: bool,
    zones: str | Sequence[str] = DEFAULT_ZONES,
    cache: bool = True,
) -> EurLex57K:
    """EURLEX57K: 57k EU legal acts, 4,271 EuroVoc concepts; train/dev/test as released (dev is val).

    ``zones``: the parts joined (in document order, one per line) into the text, a sequence or a comma-separated
    string of ``title``, ``header``, ``recitals``, ``main_body``; default header + recitals + main body.
    ``cache=False`` parses the files without reading or writing the cache. ``seed`` and ``val_fraction`` are
    unused (the release has its own dev split). Raises ValueError on an unknown zone or, with ``strict``, a
    malformed line (naming ``file:line``).
    """
    root = dataset_folder(data_dir, "eurlex57k", ("eurlex57k", "EURLEX57K"))
    chosen = parse_zones(zones)
    hint = f"Get {MANUAL} into {root}."
    sources = {
        split: SplitSource(
            functools.partial(_load_split, root / file, chosen, strict, cache), (root / file,), hint
        )
        for split, file in FILES.items()
    }
    return EurLex57K(sources, root / DESCRIPTORS_FILE, chosen)


class EurLex57K(MultiLabelDataset):
    """`MultiLabelDataset` whose labels are EuroVoc concept ids, with their descriptors and parents.

    ``zones``: the document parts in the texts. ``descriptors``: concept id -> English descriptor name;
    ``parents``: concept id -> broader concept ids (both from ``EURLEX57K.json``, read on first use).
    """

    def __init__(self, sources: dict[str, SplitSource], descriptors_file: Path, zones: tuple[str, ...]):
        super().__init__("eurlex57k", sources)
        self.zones = zones
        self._descriptors_file = descriptors_file

    @functools.cached_property
    def _concepts(self) -> dict[str, dict]:
        if not self._descriptors_file.is_file():
            raise FileNotFoundError(
                f"eurlex57k: {self._descriptors_file} does not exist; it holds the concept names. Get {MANUAL}."
            )
        return json.loads(self._descriptors_file.read_text(encoding="utf-8"))

    @property
    def descriptors(self) -> dict[str, str]:
        """Concept id -> descriptor name, e.g. ``"3474" -> "international affairs"``."""
        return {concept: entry["label"] for concept, entry in self._concepts.items()}

    @property
    def parents(self) -> dict[str, list[str]]:
        """Concept id -> the ids of its broader concepts (empty for a top concept)."""
        return {concept: list(entry.get("parents", [])) for concept, entry in self._concepts.items()}

    def label_descriptions(self) -> list[str]:
        """Descriptor names in ``label_names`` order (the id itself where the descriptor file lacks it)."""
        concepts = self._concepts
        return [concepts[label]["label"] if label in concepts else label for label in self.label_names]


def parse_zones(zones: str | Sequence[str]) -> tuple[str, ...]:
    """``"title,recitals"`` or ``["title", "recitals"]`` -> the zones in document order; ValueError if unknown/empty."""
    names = [part.strip() for part in zones.split(",")] if isinstance(zones, str) else list(zones)
    names = [name for name in names if name]
    unknown = sorted(set(names) - set(ZONES))
    if unknown or not names:
        raise ValueError(
            f"eurlex57k zones {unknown or names!r} are not valid; choose among {', '.join(ZONES)} "
            "(comma-separated, e.g. zones=header,recitals,main_body)"
        )
    return tuple(zone for zone in ZONES if zone in names)


# -- parsing and the cache ------------------------------------------------------------------------------


def _load_split(path: Path, zones: tuple[str, ...], strict: bool, cache: bool) -> Split:
    parsed = _cached_parse(path, strict) if cache else _parse(path, strict)
    columns = [parsed[zone] for zone in zones]
    texts = ["\n".join(part for part in parts if part) for parts in zip(*columns, strict=True)]
    return Split(texts, parsed["labels"], parsed["skipped"])


def _parse(path: Path, strict: bool) -> dict:
    """Zones (``title``, ``header``, ``recitals``, ``main_body``: lists of str), ``labels`` and ``skipped``."""
    malformed = MalformedLines(strict)
    parsed: dict = {zone: [] for zone in ZONES} | {"labels": []}
    try:
        with lzma.open(path, "rt", encoding="utf-8", newline="\n") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                problem = _add_record(parsed, line)
                if problem:
                    malformed.report(path, lineno, problem)
    except (lzma.LZMAError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable xz-compressed UTF-8 file ({error})") from error
    parsed["skipped"] = malformed.count
    return parsed


def _add_record(parsed: dict, line: str) -> str | None:
    """Append one act to ``parsed``; returns what is wrong with the line instead, if anything."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not valid JSON ({error.msg} at column {error.colno})"
    if not isinstance(record, dict):
        return "expected a JSON object"
    concepts, body = record.get("concepts"), record.get("main_body", [])
    if not isinstance(concepts, list) or not concepts or not all(isinstance(c, str) for c in concepts):
        return "'concepts' must be a non-empty list of concept id strings"
    if not isinstance(body, list) or not all(isinstance(article, str) for article in body):
        return "'main_body' must be a list of strings (one per article)"
    zones = {zone: record.get(zone) or "" for zone in ("title", "header", "recitals")}
    if not all(isinstance(text, str) for text in zones.values()):
        return "'title', 'header' and 'recitals' must be strings"
    zones["main_body"] = "\n".join(body)
    if not any(text.strip() for text in zones.values()):
        return "no text in any zone"
    for zone, text in zones.items():
        parsed[zone].append(text.strip())
    parsed["labels"].append(list(dict.fromkeys(concepts)))
    return None


def cache_dir() -> Path:
    """Where parsed splits are cached: ``$UCLAF_CACHE``, else ``$XDG_CACHE_HOME/uclaf-plugin``, else ``~/.cache/...``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "uclaf-plugin"


def _cache_path(path: Path) -> Path:
    digest = hashlib.sha256(f"format {CACHE_FORMAT}\n".encode())
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return cache_dir() / "eurlex57k" / f"{path.name.split('.')[0]}-{digest.hexdigest()[:16]}.npz"


def _cached_parse(path: Path, strict: bool) -> dict:
    """`_parse`, read from or written to the cache; a split with skipped lines is re-parsed under ``strict``."""
    target = _cache_path(path)
    if target.is_file():
        try:
            parsed = _read_cache(target)
        except (OSError, ValueError, KeyError):
            parsed = None  # a damaged cache file is rebuilt below
        if parsed is not None and not (strict and parsed["skipped"]):
            return parsed
    parsed = _parse(path, strict)
    try:
        atomic_write(target, lambda temp: _write_cache(temp, parsed))
    except OSError:
        pass  # an unwritable cache only costs the next load its parsing time
    return parsed


def _write_cache(temp_path: str, parsed: dict) -> None:
    arrays = {"skipped": np.array(parsed["skipped"])}
    columns = {zone: parsed[zone] for zone in ZONES} | {"labels": [" ".join(doc) for doc in parsed["labels"]]}
    for name, texts in columns.items():
        blob, offsets = _pack(texts)
        arrays[f"{name}_blob"], arrays[f"{name}_offsets"] = blob, offsets
    with open(temp_path, "wb") as handle:
        np.savez(handle, **arrays)


def _read_cache(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as arrays:
        parsed: dict = {
            name: _unpack(arrays[f"{name}_blob"], arrays[f"{name}_offsets"]) for name in (*ZONES, "labels")
        }
        parsed["skipped"] = int(arrays["skipped"])
    parsed["labels"] = [doc.split(" ") for doc in parsed["labels"]]
    return parsed


def _pack(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One UTF-8 blob of all texts and the character offsets ``(n + 1,)`` where each starts."""
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(text) for text in texts], out=offsets[1:])
    return np.frombuffer("".join(texts).encode("utf-8"), dtype=np.uint8), offsets


def _unpack(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    text = blob.tobytes().decode("utf-8")
    if len(text) != offsets[-1]:
        raise ValueError("cache offsets do not match its text")
    bounds = offsets.tolist()
    return [text[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]
