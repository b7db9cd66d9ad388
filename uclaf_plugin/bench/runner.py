"""Execute one :class:`RunSpec`: load the data, train, evaluate on the test split, write the run folder.

A run folder holds ``config.json`` (the spec and the command), ``metrics.json`` (test metrics under ``"test"``, the
validation curve, wall time, docs/s, peak memory, device, versions, git commit and, for label-attention heads, the
label-specificity of attention on the first test documents, :mod:`uclaf_plugin.specificity`), the model weights,
``labels.json`` and ``train_log.jsonl``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..data import Split, load_dataset
from ..files import read_json, write_json
from ..metrics import evaluate, jain_propensities
from .spec import DATA_OVERRIDES, RunSpec

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
LABEL_TEXTS_FILE = "label_texts.json"
VAL_FRACTION_OF_TRAIN = 0.1


@dataclass
class RunData:
    """Texts and multi-hot targets of the three roles a run needs."""

    label_names: list[str]
    train: tuple[list[str], sp.csr_matrix]
    val: tuple[list[str], sp.csr_matrix]
    test: tuple[list[str], sp.csr_matrix]
    unseen_test_labels: int
    label_texts: list[str] | None = None  # human-readable label names where the ids are codes (EURLEX57K)


def prepare_data(spec: RunSpec, data_dir: str | None = None) -> RunData:
    """Load the splits named by ``spec``; when training on ``val``, hold out a seeded slice of it for validation."""
    options = {name: value for name, value in spec.overrides.items() if name in DATA_OVERRIDES}
    dataset = load_dataset(spec.dataset, data_dir=data_dir, seed=spec.seed, **options)
    train = dataset.split(spec.train_split)
    if spec.limit_train is not None:
        train = train.take(np.random.default_rng(spec.seed).permutation(len(train))[: spec.limit_train])
    if spec.train_split == "val":
        train, val = _hold_out(train, spec.seed)
    else:
        val = dataset.split("val")
    test = dataset.split(spec.eval_split)
    seen = {label for labels in train.labels for label in labels}
    unseen = sum(label not in seen for labels in test.labels for label in labels)
    return RunData(
        label_names=list(dataset.label_names),
        train=(list(train.texts), dataset.binarize(train.labels)),
        val=(list(val.texts), dataset.binarize(val.labels)),
        test=(list(test.texts), dataset.binarize(test.labels)),
        unseen_test_labels=unseen,
        label_texts=dataset.label_descriptions() if hasattr(dataset, "label_descriptions") else None,
    )


def execute(
    spec: RunSpec,
    output: str | Path,
    *,
    data_dir=None,
    device="auto",
    quiet=False,
    resume=False,
    command=None,
) -> dict:
    """Train and evaluate ``spec``; writes the run folder ``output`` (rank 0 only) and returns ``metrics.json``'s dict."""
    output = Path(output)
    data = prepare_data(spec, data_dir)
    propensities = _propensities(data.train[1])
    label_counts = np.asarray(data.train[1].sum(axis=0)).ravel()
    started = time.perf_counter()
    if spec.is_linear:
        outcome = _run_linear(spec, data, output, propensities, label_counts, quiet=quiet)
    else:
        outcome = _run_neural(
            spec,
            data,
            output,
            propensities,
            label_counts,
            device=device,
            quiet=quiet,
            resume=resume,
            command=command,
        )
    if outcome is None:
        return {}
    metrics = {
        "test": outcome.pop("test"),
        **outcome,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "data": {
            "train_docs": len(data.train[0]),
            "val_docs": len(data.val[0]),
            "test_docs": len(data.test[0]),
            "labels": len(data.label_names),
            "unseen_test_labels": data.unseen_test_labels,
        },
        "environment": environment(),
    }
    write_json(output / CONFIG_FILE, {**_existing_config(output), "spec": spec.to_dict(), "command": command})
    write_json(output / METRICS_FILE, metrics)
    return metrics


def _run_linear(spec: RunSpec, data: RunData, output: Path, propensities, label_counts, *, quiet) -> dict:
    from ..adapters.linear import LinearBaseline

    model = LinearBaseline(**spec.linear, verbose=0 if quiet else 5)
    started = time.perf_counter()
    model.fit(*data.train)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = model.decision_function(data.test[0])
    test = evaluate(scores, data.test[1], propensities=propensities, threshold=0.0, label_counts=label_counts)
    eval_seconds = time.perf_counter() - started
    model.save(output)
    write_json(output / "labels.json", data.label_names)
    _write_label_texts(output, data)
    return {
        "test": test,
        "val_curve": [],
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "docs_per_second": round(len(data.train[0]) / train_seconds, 2),
        "device": "cpu",
    }


def _run_neural(
    spec: RunSpec, data: RunData, output: Path, propensities, label_counts, *, device, quiet, resume, command
) -> dict | None:
    from ..model import resolve_key_precision
    from ..pipeline import ModelConfig, TextClassifier
    from ..specificity import classifier_label_specificity
    from ..train import CHECKPOINT_FILE, TrainConfig, Trainer, seed_everything

    seed_everything(spec.seed)
    classifier = TextClassifier.from_config(
        ModelConfig.from_dict(spec.model), data.label_names, label_texts=data.label_texts
    )
    trainer = Trainer(classifier, TrainConfig(**{**spec.train, "device": device, "quiet": quiet}), output)
    if trainer.is_main:
        write_json(output / CONFIG_FILE, {"spec": spec.to_dict(), "command": command})
        _write_label_texts(output, data)
    summary = trainer.fit(*data.train, *data.val, resume=resume)
    if not trainer.is_main:
        return None
    # the trainer has saved these best weights
    test = trainer.evaluate(*data.test, propensities=propensities, label_counts=label_counts)
    (output / CHECKPOINT_FILE).unlink(missing_ok=True)
    attention = classifier_label_specificity(classifier, data.test[0], device=trainer.device)
    if attention is not None:  # label attention heads only
        summary["attention_specificity"] = attention
    if classifier.model.contrastive is not None:  # what "auto" stood for on this machine
        summary["key_precision"] = resolve_key_precision(classifier.model.key_precision, trainer.device.type)
    return {"test": test, "val_curve": summary.pop("history"), **summary}


def _write_label_texts(output: Path, data: RunData) -> None:
    """``label_texts.json``: label name -> human-readable text, for ``predict`` (only where the dataset has them)."""
    if data.label_texts is not None:
        write_json(output / LABEL_TEXTS_FILE, dict(zip(data.label_names, data.label_texts, strict=True)))


def _hold_out(split: Split, seed: int) -> tuple[Split, Split]:
    """``(kept, held out)``: a seeded ``VAL_FRACTION_OF_TRAIN`` of ``split`` becomes the validation split."""
    order = np.random.default_rng(seed + 1).permutation(len(split))
    cut = max(1, int(round(VAL_FRACTION_OF_TRAIN * len(split))))
    return split.take(order[cut:]), split.take(order[:cut])


def _propensities(train_targets: sp.csr_matrix) -> np.ndarray:
    counts = np.asarray(train_targets.sum(axis=0)).ravel()
    return jain_propensities(counts, train_targets.shape[0])


def _existing_config(output: Path) -> dict:
    path = output / CONFIG_FILE
    return read_json(path) if path.is_file() else {}


def environment() -> dict:
    """Package versions, the machine and the git commit, for ``metrics.json``."""
    import sklearn
    import torch
    import transformers

    from .. import __version__

    return {
        "uclaf_plugin": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit_learn": sklearn.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None
