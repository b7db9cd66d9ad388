"""Decision thresholds tuned on a validation split: from label scores to label sets.

A label is predicted for a document when its score is ``>=`` the label's threshold; with ``at_least_one``, a
document left without a label gets its best-scored one (ties: the lower label index). Two kinds of thresholds are
tuned on the validation scores, both maximising the chosen objective (``micro-F1`` or ``macro-F1``):

- **global**: one threshold for every label, searched exactly over the distinct validation scores (over
  ``max_candidates`` score quantiles when there are more distinct values, or more than a million scores);
- **per label**: one threshold per label (the SCut strategy of Yang, SIGIR 2001). For ``macro-F1`` each label's
  threshold maximises its own F1, which maximises macro-F1 exactly. For ``micro-F1`` labels are coupled: coordinate
  ascent from the global threshold changes one label at a time to its micro-F1-best value until no single change
  helps. Labels with fewer than ``min_positives`` validation positives keep the global threshold (too rare to tune).
  The per-label search does not model the ``at_least_one`` fill; it is applied when deciding.

F1 follows :func:`uclaf_plugin.metrics.evaluate`: documents without a true label are left out, and macro-F1 averages
over all labels with 0 for a label with no true and no predicted positive. Thresholds live in the score space they
were tuned on (sigmoid scores for neural runs, decision values for the linear baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .constraints import Options, check_settings
from .files import read_json, write_json

THRESHOLDS_FILE = "thresholds.json"
OBJECTIVES = ("micro-F1", "macro-F1")
KINDS = ("per_label", "global")
BLOCK_ROWS = 2048
MAX_SWEEPS = 20
EXACT_CANDIDATES_UP_TO = 1_000_000  # global search over every distinct score up to this many scores


_CHOICES = {"objective": [Options(OBJECTIVES)], "kind": [Options(KINDS)]}


@dataclass
class Thresholds:
    """Tuned thresholds for ``L`` labels and the rule that turns scores into label sets.

    ``per_label``: ``(L,)`` thresholds (the global one where ``tuned`` is False); ``kind``: which of the two
    :meth:`decide` applies by default (``"per_label"`` or ``"global"``).
    """

    global_threshold: float
    per_label: np.ndarray
    tuned: np.ndarray
    objective: str = "micro-F1"
    at_least_one: bool = False
    min_positives: int = 5
    kind: str = "per_label"

    def vector(self, kind: str | None = None) -> np.ndarray:
        """The ``(L,)`` thresholds of ``kind`` (default: ``self.kind``)."""
        kind = kind or self.kind
        check_settings({"kind": kind}, _CHOICES)
        if kind == "global":
            return np.full(len(self.per_label), self.global_threshold)
        return np.asarray(self.per_label, dtype=np.float64)

    def decide(self, scores: np.ndarray, kind: str | None = None) -> np.ndarray:
        """Bool ``(n, L)`` label sets of ``scores (n, L)``; ValueError when ``L`` differs from the thresholds'."""
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[1] != len(self.per_label):
            raise ValueError(f"scores must be (n, {len(self.per_label)}), got shape {scores.shape}")
        return apply_thresholds(scores, self.vector(kind), self.at_least_one)

    def to_dict(self, label_names: list[str]) -> dict:
        return {
            "objective": self.objective,
            "at_least_one": self.at_least_one,
            "min_positives": self.min_positives,
            "kind": self.kind,
            "global": float(self.global_threshold),
            "labels": list(label_names),
            "per_label": [float(t) for t in self.per_label],
            "tuned": [bool(t) for t in self.tuned],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Thresholds:
        return cls(
            global_threshold=float(data["global"]),
            per_label=np.asarray(data["per_label"], dtype=np.float64),
            tuned=np.asarray(data["tuned"], dtype=bool),
            objective=data["objective"],
            at_least_one=bool(data["at_least_one"]),
            min_positives=int(data["min_positives"]),
            kind=data.get("kind", "per_label"),
        )

    def save(self, directory: str | Path, label_names: list[str], extra: dict | None = None) -> Path:
        """Write ``thresholds.json`` (atomically) into ``directory``; ``extra`` adds entries (e.g. validation F1)."""
        return write_json(Path(directory) / THRESHOLDS_FILE, {**self.to_dict(label_names), **(extra or {})})

    @classmethod
    def load(cls, directory: str | Path, label_names: list[str] | None = None) -> Thresholds:
        """Read ``thresholds.json``; ValueError when its labels differ from ``label_names``."""
        path = Path(directory) / THRESHOLDS_FILE
        data = read_json(path)
        if label_names is not None and list(data["labels"]) != list(label_names):
            raise ValueError(
                f"{path}: its labels differ from the model's; the folder's files come from different runs "
                "(tune the thresholds again: uclaf-bench thresholds --run)"
            )
        return cls.from_dict(data)


def apply_thresholds(scores: np.ndarray, thresholds: np.ndarray, at_least_one: bool = False) -> np.ndarray:
    """``scores >= thresholds`` per label; with ``at_least_one`` an empty row gets its top label."""
    decided = np.asarray(scores) >= np.asarray(thresholds)
    if at_least_one and decided.shape[1]:
        empty = np.flatnonzero(~decided.any(axis=1))
        decided[empty, np.argmax(scores[empty], axis=1)] = True
    return decided


def decision_f1(decided: np.ndarray, targets) -> dict[str, float]:
    """``micro-F1`` and ``macro-F1`` of bool label sets ``(n, L)`` against multi-hot ``targets`` (dense or sparse)."""
    truth = _dense_truth(targets, np.shape(decided))
    rows = truth.any(axis=1)
    decided, truth = np.asarray(decided, dtype=bool)[rows], truth[rows]
    tp, predicted, actual = (decided & truth).sum(0), decided.sum(0), truth.sum(0)
    return {
        "micro-F1": float(_f1(tp.sum(), predicted.sum() + actual.sum())),
        "macro-F1": float(np.mean(_f1(tp, predicted + actual))) if tp.size else 0.0,
    }


def tune_thresholds(
    scores: np.ndarray,
    targets,
    objective: str = "micro-F1",
    at_least_one: bool = False,
    min_positives: int = 5,
    max_candidates: int = 512,
    kind: str = "per_label",
) -> Thresholds:
    """Tune a global and per-label thresholds on validation ``scores (n, L)`` and multi-hot ``targets (n, L)``.

    Raises ValueError for an unknown ``objective``/``kind``, mismatched shapes or no document with a true label.
    """
    check_settings({"objective": objective, "kind": kind}, _CHOICES)
    if min_positives < 1:
        raise ValueError(f"min_positives must be at least 1, got {min_positives}")
    scores = np.asarray(scores)
    scores = scores if np.issubdtype(scores.dtype, np.floating) else scores.astype(np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (documents, labels), got shape {scores.shape}")
    truth = _dense_truth(targets, scores.shape)
    rows = truth.any(axis=1)
    if not rows.any():
        raise ValueError("targets: no validation document has a true label, so no threshold can be tuned")
    scores, truth = scores[rows], truth[rows]
    best_global = global_threshold(scores, truth, objective, at_least_one, max_candidates)
    tuned = truth.sum(axis=0) >= min_positives
    per_label = label_thresholds(scores, truth, objective, best_global, tuned)
    return Thresholds(best_global, per_label, tuned, objective, at_least_one, min_positives, kind)


def global_threshold(
    scores: np.ndarray, truth: np.ndarray, objective: str, at_least_one: bool, max_candidates: int = 512
) -> float:
    """The single threshold with the best ``objective`` on ``scores``; ties: the highest such threshold."""
    candidates = _candidates(scores, max_candidates)
    if at_least_one:
        tp, predicted = _counts_with_fill(scores, truth, candidates)
    else:
        tp, predicted = _counts_by_label(scores, truth, candidates)
    actual = truth.sum(axis=0)
    if objective == "micro-F1":
        values = _f1(tp.sum(axis=1), predicted.sum(axis=1) + actual.sum())
    else:
        values = _f1(tp, predicted + actual).mean(axis=1)
    return float(candidates[int(np.argmax(values))])


def _counts_by_label(scores: np.ndarray, truth: np.ndarray, candidates: np.ndarray):
    """True positives and predicted counts ``(G, L)`` at each candidate threshold, from each label's sorted scores."""
    tp = np.empty((len(candidates), scores.shape[1]))
    predicted = np.empty_like(tp)
    for j, (column, hits) in enumerate(zip(np.ascontiguousarray(scores.T), truth.T, strict=True)):
        order = np.argsort(column, kind="stable")
        hits_above = np.r_[np.cumsum(hits[order[::-1]])[::-1], 0]  # positives at or above each rank
        first = np.searchsorted(column[order], candidates, side="left")  # first score >= candidate
        tp[:, j] = hits_above[first]
        predicted[:, j] = scores.shape[0] - first
    return tp, predicted


def _counts_with_fill(scores: np.ndarray, truth: np.ndarray, candidates: np.ndarray):
    """As :func:`_counts_by_label`, with the ``at_least_one`` fill applied (one pass per candidate)."""
    tp = np.zeros((len(candidates), scores.shape[1]))
    predicted = np.zeros_like(tp)
    for start in range(0, scores.shape[0], BLOCK_ROWS):
        block, block_truth = scores[start : start + BLOCK_ROWS], truth[start : start + BLOCK_ROWS]
        for index, threshold in enumerate(candidates):
            decided = apply_thresholds(block, threshold, at_least_one=True)
            tp[index] += (decided & block_truth).sum(axis=0)
            predicted[index] += decided.sum(axis=0)
    return tp, predicted


def label_thresholds(
    scores: np.ndarray, truth: np.ndarray, objective: str, start: float, tuned: np.ndarray
) -> np.ndarray:
    """Per-label thresholds; labels where ``tuned`` is False keep ``start`` (see the module docstring)."""
    actual = truth.sum(axis=0).astype(np.float64)
    result = np.full(scores.shape[1], start, dtype=np.float64)
    columns, truth_columns = np.ascontiguousarray(scores.T), np.ascontiguousarray(truth.T)
    options = {j: _label_options(columns[j], truth_columns[j]) for j in np.flatnonzero(tuned)}
    if objective == "macro-F1":
        for j, (thresholds, tp, predicted) in options.items():
            result[j] = thresholds[int(np.argmax(_f1(tp, predicted + actual[j])))]
        return result
    decided = scores >= start
    current_tp, current_predicted = (decided & truth).sum(axis=0), decided.sum(axis=0)
    _micro_coordinate_ascent(
        options, current_tp.astype(np.float64), current_predicted.astype(np.float64), actual, result
    )
    return result


def _micro_coordinate_ascent(
    options: dict, current_tp, current_predicted, actual, result: np.ndarray
) -> None:
    """Move one label at a time to the option that maximises micro-F1 with the others fixed, until none helps.

    ``current_tp``/``current_predicted``: each label's counts at its current threshold (updated with ``result``).
    """
    tp_total, sum_total = current_tp.sum(), current_predicted.sum() + actual.sum()
    for _ in range(MAX_SWEEPS):
        changed = False
        for j, (thresholds, tp, predicted) in options.items():
            tp_rest, sum_rest = tp_total - current_tp[j], sum_total - current_predicted[j]
            values = _f1(tp_rest + tp, sum_rest + predicted)
            best = int(np.argmax(values))
            if values[best] > _f1(tp_total, sum_total) + 1e-12:
                result[j], current_tp[j], current_predicted[j] = thresholds[best], tp[best], predicted[best]
                tp_total, sum_total = tp_rest + tp[best], sum_rest + predicted[best]
                changed = True
        if not changed:
            return


def _label_options(scores: np.ndarray, truth: np.ndarray):
    """The decisions of one label that can maximise an F1: thresholds (high to low), true positives, predicted.

    Option 0 predicts nothing (a threshold just above the highest score); the others stop at a distinct score whose
    documents include a positive (stopping anywhere else only adds false positives to the option before).
    """
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], np.cumsum(truth[order])
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    ends = ends[np.diff(np.r_[0, hits[ends]]) > 0]  # tie groups that hold a positive
    above = np.nextafter(ranked[0], np.inf) if ranked.size else 0.0
    thresholds = np.r_[above, ranked[ends]]
    return thresholds, np.r_[0, hits[ends]].astype(np.float64), np.r_[0, ends + 1].astype(np.float64)


def _candidates(scores: np.ndarray, max_candidates: int) -> np.ndarray:
    """Distinct scores, high to low; ``max_candidates`` quantiles of them when there are more."""
    quantiles = np.linspace(0.0, 1.0, max_candidates)
    if scores.size > EXACT_CANDIDATES_UP_TO:  # too many to deduplicate cheaply: quantiles of all the scores
        return np.unique(np.quantile(scores, quantiles).astype(scores.dtype))[::-1]
    values = np.unique(scores)
    if values.size > max_candidates:
        values = np.unique(np.quantile(values, quantiles).astype(scores.dtype))
    return values[::-1]


def _dense_truth(targets, shape) -> np.ndarray:
    truth = targets.toarray() if sp.issparse(targets) else np.asarray(targets)
    if truth.shape != tuple(shape):
        raise ValueError(f"targets have shape {truth.shape} but scores have shape {tuple(shape)}")
    return truth > 0


def _f1(tp, predicted_plus_actual):
    denominator = np.asarray(predicted_plus_actual, dtype=np.float64)
    return np.divide(
        2.0 * np.asarray(tp, dtype=np.float64),
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
