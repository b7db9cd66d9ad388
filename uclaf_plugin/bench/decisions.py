"""Decision thresholds of a run: tune them on its validation split, save ``thresholds.json``, report test F1.

``metrics.json`` gets a ``"thresholds"`` entry (test micro/macro-F1 at the fixed threshold, the tuned global one
and the tuned per-label ones) and, in ``"test"``, ``micro-F1 (tuned)`` / ``macro-F1 (tuned)`` beside the fixed
``micro-F1`` / ``macro-F1``: those of the thresholds that ``predict`` applies (``kind``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..thresholds import KINDS, apply_thresholds, decision_f1, tune_thresholds

TUNED_KEYS = ("micro-F1 (tuned)", "macro-F1 (tuned)")


def tune_run_thresholds(
    val_scores: np.ndarray,
    val_targets,
    test_scores: np.ndarray,
    test_targets,
    label_names: list[str],
    output: str | Path,
    fixed_threshold: float,
    objective: str = "micro-F1",
    at_least_one: bool = False,
    kind: str = "per_label",
) -> dict:
    """Tune on validation scores, write ``output/thresholds.json``; returns the ``"thresholds"`` report.

    ``fixed_threshold``: the untuned rule (0.5 on sigmoid scores, 0 on SVM decision values).
    """
    if not _any_labelled(val_targets):
        return {"skipped": "no validation document has a true label"}
    thresholds = tune_thresholds(val_scores, val_targets, objective, at_least_one, kind=kind)
    validation = {name: decision_f1(thresholds.decide(val_scores, name), val_targets) for name in KINDS}
    thresholds.save(output, label_names, extra={"validation": validation})
    report = {
        "objective": objective,
        "at_least_one": at_least_one,
        "kind": kind,
        "fixed": {
            "threshold": fixed_threshold,
            **decision_f1(apply_thresholds(test_scores, fixed_threshold), test_targets),
        },
    }
    report.update({name: decision_f1(thresholds.decide(test_scores, name), test_targets) for name in KINDS})
    return report


def tuned_test_metrics(report: dict) -> dict:
    """The ``"test"`` entries of the thresholds that ``predict`` applies (none when tuning was skipped)."""
    if "kind" not in report:
        return {}
    chosen = report[report["kind"]]
    return dict(zip(TUNED_KEYS, (chosen["micro-F1"], chosen["macro-F1"]), strict=True))


def _any_labelled(targets) -> bool:
    return targets.shape[0] > 0 and targets.sum() > 0
