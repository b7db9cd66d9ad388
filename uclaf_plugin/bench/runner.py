"""Execute one :class:`RunSpec`: load the data, train, evaluate on the test split, write the run folder.

The folder's files are :class:`~uclaf_plugin.bench.run_folder.RunFolder`'s. ``metrics.json`` holds the test metrics
under ``"test"``, the validation curve, wall time, docs/s, peak memory, device, versions, git commit and, for
label-attention heads, the label-specificity of attention on the first test documents
(:mod:`uclaf_plugin.specificity`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..data import Split, load_dataset
from ..metrics import evaluate, jain_propensities
from .decisions import tune_run_thresholds, tuned_test_metrics
from .run_folder import RunFolder
from .spec import DATA_OVERRIDES, RunSpec, with_data

VAL_FRACTION_OF_TRAIN = 0.1
DATA_CACHE_SIZE = 2
_DATA_CACHE: dict[tuple, RunData] = {}


@dataclass
class RunData:
    """Texts and multi-hot targets of the three roles a run needs, and the fingerprint of what was read."""

    label_names: list[str]
    train: tuple[list[str], sp.csr_matrix]
    val: tuple[list[str], sp.csr_matrix]
    test: tuple[list[str], sp.csr_matrix]
    unseen_test_labels: int
    fingerprint: dict
    label_texts: list[str] | None = None  # human-readable label names where the ids are codes (EURLEX57K)


def prepare_data(spec: RunSpec, data_dir: str | None = None) -> RunData:
    """Load the splits named by ``spec``; when training on ``val``, hold out a seeded slice of it for validation.

    Raises ValueError naming the split when one has no document, or none of its documents has a label; and when
    ``spec.data`` holds a fingerprint that the data read now does not match (the files changed).
    """
    options = loader_options(spec)
    dataset = load_dataset(spec.dataset, data_dir=data_dir, seed=spec.seed, **options)
    train = dataset.split(spec.train_split)
    if spec.limit_train is not None:
        train = train.take(np.random.default_rng(spec.seed).permutation(len(train))[: spec.limit_train])
    if spec.train_split == "val":
        train, val = _hold_out(train, spec.seed)
    else:
        val = dataset.split("val")
    test = dataset.split(spec.eval_split)
    roles = {"train": train, "val": val, "test": test}
    names = {"train": spec.train_split, "val": "val", "test": spec.eval_split}
    for role, split in roles.items():
        _check_role(
            spec.dataset, f"{names[role]} split" + (f" ({role})" if names[role] != role else ""), split
        )
    seen = {label for labels in train.labels for label in labels}
    data = RunData(
        label_names=list(dataset.label_names),
        train=(list(train.texts), dataset.binarize(train.labels)),
        val=(list(val.texts), dataset.binarize(val.labels)),
        test=(list(test.texts), dataset.binarize(test.labels)),
        unseen_test_labels=len({label for labels in test.labels for label in labels} - seen),
        fingerprint=data_fingerprint(dataset.label_names, roles),
        label_texts=dataset.label_descriptions() if hasattr(dataset, "label_descriptions") else None,
    )
    _check_fingerprint(spec, data)
    return data


def loader_options(spec: RunSpec) -> dict:
    """What ``load_dataset`` is given besides the name: the data overrides (``zones``) and ``--format``."""
    options = {name: value for name, value in spec.overrides.items() if name in DATA_OVERRIDES}
    return {**options, "format": spec.format} if spec.format is not None else options


def cached_data(spec: RunSpec, data_dir: str | None = None) -> RunData:
    """:func:`prepare_data`, remembered for the last few specs while the dataset's files keep their size and time.

    ``compare`` fingerprints every run's data before it decides what to reuse, then trains on that same data.
    """
    options = loader_options(spec)
    dataset = load_dataset(spec.dataset, data_dir=data_dir, seed=spec.seed, **options)
    files = tuple((str(path), *_file_state(path)) for path in dataset.source_files())
    key = (spec.dataset, spec.seed, spec.train_split, spec.eval_split, spec.limit_train, str(data_dir))
    key += (tuple(sorted(options.items())), files)
    if key not in _DATA_CACHE:
        while len(_DATA_CACHE) >= DATA_CACHE_SIZE:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = prepare_data(dataclasses.replace(spec, data=None), data_dir)
    data = _DATA_CACHE[key]
    _check_fingerprint(spec, data)
    return data


def fingerprinted(spec: RunSpec, data_dir: str | None = None) -> RunSpec:
    """``spec`` with the fingerprint of the data it reads now (loads the data, see :func:`cached_data`)."""
    return with_data(spec, cached_data(dataclasses.replace(spec, data=None), data_dir).fingerprint)


def _file_state(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)


def _check_fingerprint(spec: RunSpec, data: RunData) -> None:
    if spec.data is not None and spec.data != data.fingerprint:
        raise ValueError(
            f"the data of {spec.dataset} changed since this run was set up (fingerprint "
            f"{spec.data['sha256'][:12]}, now {data.fingerprint['sha256'][:12]}); start a fresh run"
        )


def _check_role(dataset: str, name: str, split: Split) -> None:
    if len(split) == 0:
        raise ValueError(f"{dataset}: the {name} has no documents; a run needs at least one")
    if not any(split.labels):
        raise ValueError(
            f"{dataset}: none of the {len(split)} documents of the {name} has a label; check the file's "
            "format (fastText needs __label__ tokens; TSV is labels<TAB>text) or name it with --format"
        )


def data_fingerprint(label_names: list[str], roles: dict[str, Split]) -> dict:
    """SHA-256 of the label names and of each role's texts and labels, in order, with the sizes.

    This identifies the data a run read: any change to a file's content (a text, a label, a line moved between
    splits), to the splits chosen or to ``--limit-train`` changes it; a file merely touched does not.
    """
    digest = hashlib.sha256(json.dumps(list(label_names)).encode())
    for role, split in roles.items():
        digest.update(f"\n{role}:{len(split)}\n".encode())
        for text, labels in zip(split.texts, split.labels, strict=True):
            digest.update(json.dumps([text, labels], ensure_ascii=False).encode() + b"\n")
    sizes = {f"{role}_docs": len(split) for role, split in roles.items()}
    return {"sha256": digest.hexdigest(), **sizes, "labels": len(label_names)}


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
    folder = RunFolder(output)
    data = cached_data(spec, data_dir)
    propensities = _propensities(data.train[1])
    label_counts = np.asarray(data.train[1].sum(axis=0)).ravel()
    started, versions = time.perf_counter(), environment()  # the code that runs: taken before training
    if spec.is_linear:
        outcome = _run_linear(spec, data, folder, propensities, label_counts, quiet=quiet, command=command)
    else:
        outcome = _run_neural(
            spec,
            data,
            folder,
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
        "environment": versions,
    }
    folder.write_metrics(metrics)
    return metrics


def _run_linear(
    spec: RunSpec, data: RunData, folder: RunFolder, propensities, label_counts, *, quiet, command
) -> dict:
    from ..baselines.linear import LinearBaseline

    folder.start(spec.to_dict(), command)
    model = LinearBaseline(**spec.linear, verbose=0 if quiet else 5)
    started = time.perf_counter()
    model.fit(*data.train)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = model.decision_function(data.test[0])
    test = evaluate(scores, data.test[1], propensities=propensities, threshold=0.0, label_counts=label_counts)
    eval_seconds = time.perf_counter() - started
    model.save(folder.path)
    folder.write_labels(data.label_names)
    folder.write_label_texts(data.label_names, data.label_texts)
    thresholds = _tune_thresholds(model.decision_function(data.val[0]), scores, data, folder.path, 0.0)
    return {
        "test": {**test, **tuned_test_metrics(thresholds)},
        "thresholds": thresholds,
        "val_curve": [],
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "docs_per_second": round(len(data.train[0]) / train_seconds, 2),
        "device": "cpu",
    }


def _run_neural(
    spec: RunSpec,
    data: RunData,
    folder: RunFolder,
    propensities,
    label_counts,
    *,
    device,
    quiet,
    resume,
    command,
) -> dict | None:
    from ..model import resolve_key_precision
    from ..pipeline import ModelConfig, TextClassifier
    from ..specificity import classifier_label_specificity
    from ..text_trainer import TextTrainer
    from ..train import TrainConfig, seed_everything

    seed_everything(spec.seed)
    classifier = TextClassifier.from_config(
        ModelConfig.from_dict(spec.model),
        data.label_names,
        label_texts=data.label_texts,
        train_texts=data.train[0],
        train_targets=data.train[1],
    )
    train_config = TrainConfig(**{**spec.train, "device": device, "quiet": quiet})
    trainer = TextTrainer(classifier, train_config, folder.path)
    if trainer.is_main:
        folder.start(spec.to_dict(), command)
        folder.write_label_texts(data.label_names, data.label_texts)
    summary = trainer.fit(*data.train, *data.val, resume=resume)
    if not trainer.is_main:
        return None

    def scores(texts):  # of the best weights, which the trainer has saved
        return classifier.scores(texts, batch_size=trainer.config.eval_batch_size, device=trainer.device)

    test_scores = scores(data.test[0])
    test = evaluate(
        test_scores,
        data.test[1],
        propensities=propensities,
        threshold=trainer.config.threshold,
        label_counts=label_counts,
    )
    thresholds = _tune_thresholds(
        scores(data.val[0]), test_scores, data, folder.path, trainer.config.threshold
    )
    attention = classifier_label_specificity(classifier, data.test[0], device=trainer.device)
    if attention is not None:  # label attention heads only
        summary["attention_specificity"] = attention
    if classifier.model.contrastive is not None:  # what "auto" stood for on this machine
        summary["key_precision"] = resolve_key_precision(classifier.model.key_precision, trainer.device.type)
    test.update(tuned_test_metrics(thresholds))
    return {"test": test, "val_curve": summary.pop("history"), "thresholds": thresholds, **summary}


def _tune_thresholds(val_scores, test_scores, data: RunData, output: Path, fixed: float) -> dict:
    """Tune decision thresholds on the validation split (micro-F1, per label); see :mod:`.decisions`."""
    return tune_run_thresholds(
        val_scores, data.val[1], test_scores, data.test[1], data.label_names, output, fixed
    )


def _hold_out(split: Split, seed: int) -> tuple[Split, Split]:
    """``(kept, held out)``: a seeded ``VAL_FRACTION_OF_TRAIN`` of ``split`` becomes the validation split."""
    order = np.random.default_rng(seed + 1).permutation(len(split))
    cut = max(1, int(round(VAL_FRACTION_OF_TRAIN * len(split))))
    return split.take(order[cut:]), split.take(order[:cut])


def _propensities(train_targets: sp.csr_matrix) -> np.ndarray:
    counts = np.asarray(train_targets.sum(axis=0)).ravel()
    return jain_propensities(counts, train_targets.shape[0])


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
