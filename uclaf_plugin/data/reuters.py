"""Reuters-21578 (SGML, latin-1) built into the ModApte-90 split.

ModApte: ``LEWISSPLIT="TRAIN"``/``"TEST"`` with ``TOPICS="YES"``. ModApte-90 keeps the 90 topics with at
least one train and one test document, and the documents with at least one of them (7,770 train /
3,019 test from a plain parse; 7,769 is the published train count). Text is the title and the body with
SGML entities unescaped; a document without a TITLE or a BODY keeps its whole TEXT with tags stripped.
Val is carved from train with the seed. Malformed documents skipped with ``strict=False`` are counted
on the train split.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

from .base import MultiLabelDataset, Split, SplitSource
from .paths import dataset_folder
from .textfiles import MalformedLines, carved_sources

URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/reuters21578-mld/reuters21578.tar.gz"
DOCUMENT = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.S)
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.S)
TOPIC = re.compile(r"<D>(.*?)</D>", re.S)
TEXT = re.compile(r"<TEXT\b[^>]*>(.*?)</TEXT>", re.S)
TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.S)
BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)
TAG = re.compile(r"<[^>]*>")
SPLITS = {"TRAIN": "train", "TEST": "test"}


def load_reuters(data_dir: Path, *, seed: int, val_fraction: float, strict: bool) -> MultiLabelDataset:
    """Reuters-21578 ModApte-90: newswire, 90 topics (SGML files in ``reuters21578/`` or ``reuters/``)."""
    root = dataset_folder(data_dir, "reuters", ("reuters21578", "reuters"))
    files = tuple(sorted(root.glob("reut2-*.sgm")))
    hint = f"Run `uclaf-bench data fetch reuters`, or download {URL} and unpack it into {root}."
    if not files:
        raise FileNotFoundError(f"reuters: no reut2-*.sgm files in {root}. {hint}")
    parsed = functools.cache(functools.partial(parse_modapte90, files, strict))
    sources = carved_sources(lambda: parsed()["train"], files, val_fraction, seed, hint)
    sources["test"] = SplitSource(lambda: parsed()["test"], files, hint)
    return MultiLabelDataset("reuters", sources)


def parse_modapte90(files: tuple[Path, ...], strict: bool) -> dict[str, Split]:
    """Parse the SGML files and keep the ModApte-90 documents and topics."""
    malformed = MalformedLines(strict)
    docs: dict[str, list[tuple[str, list[str]]]] = {"train": [], "test": []}
    for path in files:
        for split, text, topics in parse_sgml(path, malformed):
            docs[split].append((text, topics))
    in_train = {topic for _, topics in docs["train"] for topic in topics}
    in_test = {topic for _, topics in docs["test"] for topic in topics}
    kept = in_train & in_test
    splits = {}
    for split, entries in docs.items():
        entries = [(text, [t for t in topics if t in kept]) for text, topics in entries]
        entries = [(text, topics) for text, topics in entries if topics]
        splits[split] = Split([text for text, _ in entries], [topics for _, topics in entries])
    splits["train"].skipped = malformed.count
    return splits


def parse_sgml(path: Path, malformed: MalformedLines):
    """Yield ``(split, text, topics)`` for the ModApte documents (TOPICS="YES", TRAIN or TEST) of one file."""
    content = path.read_text(encoding="latin-1")
    for match in DOCUMENT.finditer(content):
        attributes = dict(ATTRIBUTE.findall(match.group(1)))
        problem = _problem(attributes, match.group(2))
        if problem:
            malformed.report(path, _line_of(content, match.start()), problem)
            continue
        if attributes["TOPICS"] != "YES" or attributes["LEWISSPLIT"] not in SPLITS:
            continue
        text = document_text(TEXT.search(match.group(2)).group(1))
        if not text:
            malformed.report(path, _line_of(content, match.start()), "empty text")
            continue
        topics = TOPIC.findall(TOPICS.search(match.group(2)).group(1))
        yield SPLITS[attributes["LEWISSPLIT"]], text, list(dict.fromkeys(topics))


def _line_of(content: str, offset: int) -> int:
    return content.count("\n", 0, offset) + 1


def _problem(attributes: dict[str, str], element: str) -> str | None:
    for name in ("TOPICS", "LEWISSPLIT"):
        if name not in attributes:
            return f'<REUTERS> has no {name}="..." attribute'
    for tag, pattern in (("TOPICS", TOPICS), ("TEXT", TEXT)):
        if not pattern.search(element):
            return f"document has no <{tag}> element"
    return None


def document_text(raw: str) -> str:
    """Title and body, entities unescaped; the whole TEXT with tags stripped if either is missing."""
    title, body = TITLE.search(raw), BODY.search(raw)
    if title and body:
        return html.unescape(f"{title.group(1).strip()}\n{body.group(1).strip()}").strip()
    return html.unescape(TAG.sub(" ", raw)).strip()
