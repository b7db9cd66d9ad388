"""One run's folder: which files it holds, who writes each one once (atomically), and reading them back.

``runs/<dataset>/<method>/seed<N>-<hash>/`` (the hash is the spec's key, :meth:`RunSpec.key`):

- ``config.json``: ``{"spec", "command"}``, written by :meth:`RunFolder.start` before training; a neural model's
  ``"model"`` entry is added by ``TextClassifier.save`` (:mod:`uclaf_plugin.pipeline`).
- ``labels.json``: the label names, in score order (``TextClassifier.save``, or :meth:`RunFolder.write_labels`).
- ``label_texts.json``: label name -> readable text, where the dataset has them (EURLEX57K's descriptors).
- the weights (``model.safetensors``) or the linear model file, ``thresholds.json``, ``train_log.jsonl``.
- ``checkpoint.pt`` while a run is interrupted (removed when it finishes).
- ``metrics.json``: written last, by :meth:`RunFolder.write_metrics`; a folder with it is a finished run.
"""

from __future__ import annotations

from pathlib import Path

from ..files import read_json, write_json
from ..train.checkpoint import CHECKPOINT_FILE

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
LABELS_FILE = "labels.json"
LABEL_TEXTS_FILE = "label_texts.json"


class RunFolder:
    """The files of one run folder at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def is_finished(self) -> bool:
        return self.metrics_file.is_file()

    @property
    def is_interrupted(self) -> bool:
        return self.checkpoint_file.is_file()

    def config(self) -> dict:
        """``config.json``; ``FileNotFoundError`` naming it when the folder has none."""
        if not self.config_file.is_file():
            raise FileNotFoundError(
                f"{self.config_file} not found: {self.path} is not a run folder of uclaf-bench run"
            )
        config = read_json(self.config_file)
        if not isinstance(config, dict):
            raise ValueError(
                f"{self.config_file} must hold a JSON object; the folder is damaged, train it again"
            )
        return config

    def spec(self) -> dict:
        """The run's spec (``config.json``'s ``"spec"``); ``{}`` for a model saved by ``TextClassifier.save``."""
        return self.config().get("spec") or {}

    def metrics(self) -> dict:
        """``metrics.json``; ``FileNotFoundError`` naming it when the run has not finished."""
        if not self.is_finished:
            raise FileNotFoundError(
                f"{self.metrics_file} is missing; pass a finished run folder written by uclaf-bench run"
            )
        return read_json(self.metrics_file)

    def label_count(self) -> int | None:
        labels = self.path / LABELS_FILE
        return len(read_json(labels)) if labels.is_file() else None

    def label_texts(self) -> dict[str, str] | None:
        """``label_texts.json`` (label name -> readable text), or ``None`` where the dataset has none."""
        path = self.path / LABEL_TEXTS_FILE
        return read_json(path) if path.is_file() else None

    def start(self, spec: dict, command: str) -> None:
        """Write ``config.json`` before training: the spec and the command (a model entry already there is kept)."""
        existing = read_json(self.config_file) if self.config_file.is_file() else {}
        write_json(self.config_file, {**existing, "spec": spec, "command": command})

    def write_labels(self, label_names: list[str]) -> None:
        write_json(self.path / LABELS_FILE, list(label_names))

    def write_label_texts(self, label_names: list[str], label_texts: list[str] | None) -> None:
        """``label_texts.json``, only where the dataset gives readable texts for its labels."""
        if label_texts is not None:
            write_json(self.path / LABEL_TEXTS_FILE, dict(zip(label_names, label_texts, strict=True)))

    def write_metrics(self, metrics: dict) -> None:
        """Write ``metrics.json`` (it marks the run finished), after dropping an interrupted run's checkpoint."""
        self.checkpoint_file.unlink(missing_ok=True)
        write_json(self.metrics_file, metrics)
