"""Label sets for new documents from a run folder, and streaming batch prediction over files of any size.

:class:`RunPredictor` loads a neural or a linear run folder with its tuned thresholds (``thresholds.json``; runs
without one use the fixed rule: 0.5 on sigmoid scores, 0 on SVM decision values). :func:`predict_file` reads
``.jsonl`` (one JSON object with a ``"text"`` field, or a JSON string, per line) or plain text (one document per
line; blank lines are skipped) one window at a time, sorts each window by token length into batches, and writes one
JSON line per document in input order: ``{"line": input line, "labels": [label set, best first],
"scores": {top-k label: score}}`` (plus ``"id"`` when a JSON object has one). Memory stays bounded by the window.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from .files import read_json
from .metrics import top_k as ranking
from .pipeline import WEIGHTS_FILE, rank_labels
from .thresholds import THRESHOLDS_FILE, Thresholds, apply_thresholds

SIGMOID_THRESHOLD = 0.5
DECISION_THRESHOLD = 0.0


class RunPredictor:
    """Scores and label sets from a finished run folder (``uclaf-bench run`` output).

    Args:
        run_dir: the run folder; FileNotFoundError when it holds no model.
        use_thresholds: apply ``thresholds.json`` when present (else the fixed rule).
        batch_size: documents per forward pass; device: where a neural model runs.
        sort_by_length: batch documents of similar length together (same scores, less padding).
        kind: ``"neural"`` or ``"linear"`` (default: neural when the folder holds ``model.safetensors``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        use_thresholds: bool = True,
        batch_size: int = 64,
        device: str = "cpu",
        sort_by_length: bool = True,
        kind: str | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.batch_size, self.device, self.sort_by_length = batch_size, device, sort_by_length
        if kind == "neural" if kind else (self.run_dir / WEIGHTS_FILE).is_file():
            from .pipeline import TextClassifier

            self.classifier = TextClassifier.load(self.run_dir).to(device)
            self.label_names, self.fixed_threshold = self.classifier.label_names, SIGMOID_THRESHOLD
        else:
            from .baselines.linear import LinearBaseline

            if not self.run_dir.is_dir():
                raise FileNotFoundError(
                    f"--run {self.run_dir} does not exist; pass a folder written by uclaf-bench run"
                )
            self.classifier = LinearBaseline.load(self.run_dir)
            self.label_names, self.fixed_threshold = (
                read_json(self.run_dir / "labels.json"),
                DECISION_THRESHOLD,
            )
            scored = len(self.classifier.constant_scores)
            if not isinstance(self.label_names, list) or len(self.label_names) != scored:
                count = len(self.label_names) if isinstance(self.label_names, list) else "no list of"
                raise ValueError(
                    f"{self.run_dir / 'labels.json'} has {count} labels but the linear model scores {scored}; "
                    "the folder's files come from different runs"
                )
        has_thresholds = use_thresholds and (self.run_dir / THRESHOLDS_FILE).is_file()
        self.thresholds = Thresholds.load(self.run_dir, self.label_names) if has_thresholds else None

    def scores(self, texts: list[str]) -> np.ndarray:
        """Scores ``(n, L)``: sigmoid scores (neural runs) or decision values (linear runs)."""
        if hasattr(self.classifier, "decision_function"):
            scores = self.classifier.decision_function(texts)
            if scores.shape[1] != len(self.label_names):
                raise ValueError(
                    f"{self.run_dir / 'labels.json'} has {len(self.label_names)} labels but the linear model scores "
                    f"{scores.shape[1]}; the folder's files come from different runs"
                )
            return scores
        return self.classifier.scores(
            texts, batch_size=self.batch_size, device=self.device, sort_by_length=self.sort_by_length
        )

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """Bool label sets ``(n, L)``: the tuned thresholds, else the fixed rule."""
        if self.thresholds is not None:
            return self.thresholds.decide(scores)
        return apply_thresholds(scores, self.fixed_threshold)

    def predict(self, texts: list[str], top_k: int = 5) -> list[dict]:
        """``{"labels": label set (best first), "scores": {label: score} of the top_k}`` for each text."""
        return self.records(self.scores(texts), top_k)

    def records(self, scores: np.ndarray, top_k: int) -> list[dict]:
        """The records of :meth:`predict` from ``scores (n, L)``."""
        decided = self.decide(scores)
        ranked = ranking(scores, scores.shape[1])  # every label, best first
        records = []
        for order, chosen, top in zip(
            ranked, decided, rank_labels(scores, self.label_names, top_k), strict=True
        ):
            members = order[chosen[order]]
            records.append({"labels": [self.label_names[j] for j in members], "scores": dict(top)})
        return records


def read_documents(path: str | Path) -> Iterator[dict]:
    """``{"line", "text"(, "id")}`` per document of a ``.jsonl`` or text file, lazily; ValueError names file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--input {path} does not exist")
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield (
                _parse_jsonl(path, number, line) if is_jsonl else {"line": number, "text": line.rstrip("\n")}
            )


def _parse_jsonl(path: Path, number: int, line: str) -> dict:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    if isinstance(value, str):
        return {"line": number, "text": value}
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise ValueError(f'{path}:{number}: expected a JSON string or an object with a "text" string')
    return {"line": number, "text": value["text"], **({"id": value["id"]} if "id" in value else {})}


def predict_stream(
    predictor: RunPredictor, documents: Iterable[dict], top_k: int = 5, window: int = 1024
) -> Iterator[dict]:
    """One output record per document, in input order; scores ``window`` documents at a time."""
    documents = iter(documents)
    while chunk := list(islice(documents, window)):
        records = predictor.predict([doc["text"] for doc in chunk], top_k)
        for doc, record in zip(chunk, records, strict=True):
            yield {key: doc[key] for key in ("line", "id") if key in doc} | record


def predict_file(
    predictor: RunPredictor,
    input_path: str | Path,
    output_path: str | Path,
    top_k: int = 5,
    window: int = 1024,
    quiet: bool = False,
) -> int:
    """Stream ``input_path`` through ``predictor`` into JSON lines at ``output_path``; returns documents written.

    The output is written to a temporary file beside ``output_path`` and moved onto it at the end.
    """
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    temp = output_path.with_name(f".{output_path.name}.tmp")
    written = 0
    try:
        with temp.open("w", encoding="utf-8") as handle, _Progress(_count_lines(input_path), quiet) as bar:
            for record in predict_stream(predictor, read_documents(input_path), top_k, window):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
                bar.advance(record["line"])
        os.replace(temp, output_path)
    finally:
        temp.unlink(missing_ok=True)
    return written


def _count_lines(path: str | Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


class _Progress:
    """A rich progress bar over input lines (docs/s and ETA); silent when ``quiet``."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet = total, quiet

    def __enter__(self):
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("predict"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("predict", total=self.total)
        return self

    def advance(self, line: int) -> None:
        if not self.quiet:
            self.bar.update(self.task, completed=line)

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.stop()
        return False
