"""Ranking and classification metrics for multi-label scores: P@k, RP@k, nDCG@k, PSP@k, micro/macro F1.

Conventions:

- Ranking: labels are ranked by score, ties broken by the lower label index (deterministic).
- ``P@k`` divides the hits in the top k by k. ``RP@k`` (R-Precision@k, Chalkidis et al. 2019, ACL,
  Section 5) divides them by ``min(k, |y|)``, so a document with fewer than k true labels can still
  reach 1. ``nDCG@k`` divides DCG@k by the ideal DCG over
  ``min(k, |y|)`` true labels (pyxclib / AttentionXML).
- ``PSP@k`` (Jain et al. 2016) weighs each hit by its inverse propensity and, as pyxclib does, divides
  the total by the best total achievable (each document's k true labels of highest inverse propensity).
- F1 only when ``threshold`` is given: a score >= threshold is a positive. ``macro-F1`` is the mean of
  the per-label F1 over all labels, 0 for a label with no true and no predicted positive (as
  ``sklearn.metrics.f1_score(average="macro", zero_division=0)``).
- Documents without a true label are left out of every metric and counted in ``n_skipped``.
- Label groups (given the train documents per label): ``frequent`` (more than 50), ``few`` (1-50) and
  ``zero`` (none), as in the LMTC literature (Chalkidis et al. 2019; Rios and Kavuluru 2018). A group's
  metrics rank only that group's labels and evaluate the documents with a true label in it (the
  ``lmtc-eurlex57k`` evaluation); they are reported as ``"<group>/<metric>"`` keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

BLOCK_ROWS = 2048
BLOCK_SCORES = 2**24  # fewer rows per block for wide label spaces; true labels stay sparse throughout
FEW_SHOT_MAX = 50  # a label with 1..50 train documents is few-shot, with more it is frequent
LABEL_GROUPS = ("frequent", "few", "zero")


def evaluate(
    scores,
    targets,
    ks: Sequence[int] = (1, 3, 5),
    propensities=None,
    threshold: float | None = None,
    label_counts=None,
) -> dict[str, float]:
    """Metrics of ``scores (n, L)`` against multi-hot ``targets (n, L)``.

    ``scores``: numpy or torch; ``targets``: dense numpy/torch or scipy sparse (kept sparse). ``propensities``:
    ``(L,)`` label propensities in (0, 1] (see `jain_propensities`) to add ``PSP@k``. ``threshold``:
    add ``micro-F1`` and ``macro-F1`` (e.g. 0.5 for probabilities). ``label_counts``: ``(L,)`` train
    documents per label, to add every metric per label group as ``"frequent/P@1"``, ``"few/RP@5"``,
    ``"zero/nDCG@5"``... (see `label_groups`; a group with no true label in ``targets`` is left out).
    Returns fractions in [0, 1] plus ``n_docs`` (evaluated) and ``n_skipped`` (documents without a true
    label), and per group ``"<group>/n_docs"`` and ``"<group>/n_labels"``. Rows are processed in blocks, so
    memory stays bounded for large ``n``. Raises ValueError on bad shapes or values.
    """
    scores = _as_scores(scores)
    targets = _as_targets(targets, scores.shape)
    ks = _check_ks(ks)
    inverse = _inverse_propensities(propensities, scores.shape[1])
    if not np.diff(targets.indptr).any():
        raise ValueError("targets: no document has a true label, so there is nothing to evaluate")
    out = _evaluate_columns(scores, targets, None, ks, inverse, threshold)
    if label_counts is not None:
        for group, columns in label_groups(label_counts, scores.shape[1]).items():
            if columns.size and targets[:, columns].nnz:
                result = _evaluate_columns(scores, targets, columns, ks, inverse, threshold)
                result["n_labels"] = int(columns.size)
                out.update({f"{group}/{name}": value for name, value in result.items()})
    return out


def label_groups(label_counts, num_labels: int | None = None) -> dict[str, np.ndarray]:
    """Column indices of the ``frequent`` (> 50 train documents), ``few`` (1-50) and ``zero`` (0) labels.

    ``label_counts``: ``(L,)`` non-negative train documents per label; ``num_labels``: the expected ``L``.
    Raises ValueError on a wrong shape or a negative count.
    """
    counts = np.asarray(label_counts).ravel()
    if counts.ndim != 1 or (num_labels is not None and counts.size != num_labels) or (counts < 0).any():
        raise ValueError(
            f"label_counts must hold {num_labels or 'L'} non-negative train document counts, one per label"
        )
    return {
        "frequent": np.flatnonzero(counts > FEW_SHOT_MAX),
        "few": np.flatnonzero((counts >= 1) & (counts <= FEW_SHOT_MAX)),
        "zero": np.flatnonzero(counts == 0),
    }


def _evaluate_columns(scores, targets, columns, ks, inverse, threshold) -> dict[str, float]:
    """`evaluate` restricted to ``columns`` (None: all), over the documents with a true label among them."""
    if columns is not None:
        targets = targets[:, columns]
        inverse = inverse[columns] if inverse is not None else None
    rows = np.flatnonzero(np.diff(targets.indptr) > 0)
    totals = _Totals(ks, targets.shape[1], inverse is not None, threshold is not None)
    block_rows = max(1, min(BLOCK_ROWS, BLOCK_SCORES // targets.shape[1]))
    for start in range(0, rows.size, block_rows):
        block = rows[start : start + block_rows]
        block_scores = scores[block] if columns is None else scores[np.ix_(block, columns)]
        totals.add(block_scores, targets[block], inverse, threshold)
    return totals.result(n_docs=rows.size, n_skipped=scores.shape[0] - rows.size)


def top_k(scores, k: int) -> np.ndarray:
    """Indices ``(n, min(k, L))`` of the highest scores per row, best first; ties go to the lower index."""
    return _top_k(_as_scores(scores), k)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    num_labels = scores.shape[1]
    k = min(k, num_labels)
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    kth = np.partition(scores, num_labels - k, axis=1)[:, num_labels - k, None]
    chosen = scores >= kth
    _keep_lowest_index_on_ties(scores, chosen, kth, k)
    candidates = np.nonzero(chosen)[1].reshape(scores.shape[0], k)
    values = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -values), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


def jain_propensities(label_counts, num_docs: int, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """Label propensities ``1 / (1 + C (N_l + B)^-A)``, ``C = (log N - 1)(B + 1)^A`` (Jain et al. 2016).

    ``label_counts``: train documents per label; ``num_docs``: train documents. A=0.55, B=1.5 is the
    general setting (Wikipedia-LSHTC uses 0.5/0.4, Amazon 0.6/2.6).
    """
    counts = np.asarray(label_counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError("label_counts must be a 1-D array of non-negative counts")
    if num_docs < 1:
        raise ValueError(f"num_docs must be at least 1, got {num_docs}")
    c = (np.log(num_docs) - 1.0) * (B + 1.0) ** A
    return 1.0 / (1.0 + c * np.exp(-A * np.log(counts + B)))


class _Totals:
    """Sums over row blocks from which the metrics are the final ratios."""

    def __init__(self, ks: list[int], num_labels: int, psp: bool, f1: bool):
        self.ks, self.k_max = ks, max(ks)
        self.discounts = 1.0 / np.log2(np.arange(2, self.k_max + 2))
        self.hits = np.zeros(self.k_max)
        self.r_precision = np.zeros(self.k_max)
        self.ndcg = np.zeros(self.k_max)
        self.psp = np.zeros(self.k_max) if psp else None
        self.psp_best = np.zeros(self.k_max) if psp else None
        self.f1_counts = np.zeros((3, num_labels)) if f1 else None

    def add(self, scores: np.ndarray, targets: sp.csr_matrix, inverse, threshold) -> None:
        ranked = _top_k(scores, self.k_max)
        hits = _pad(_sparse_lookup(targets, ranked).astype(np.float64), self.k_max)
        num_true = np.diff(targets.indptr)
        self.hits += hits.sum(axis=0)
        self.r_precision += _r_precision_sums(hits, num_true)
        self.ndcg += _ndcg_sums(hits, num_true, self.discounts)
        if inverse is not None:
            self.psp += (hits * _pad(inverse[ranked], self.k_max)).sum(axis=0)
            self.psp_best += _best_gains(targets, inverse, self.k_max)
        if threshold is not None:
            true_rows = np.repeat(np.arange(targets.shape[0]), num_true)
            true_positive = scores[true_rows, targets.indices] >= threshold
            num_labels = scores.shape[1]
            self.f1_counts += [
                np.bincount(targets.indices[true_positive], minlength=num_labels),
                (scores >= threshold).sum(0),
                np.bincount(targets.indices, minlength=num_labels),
            ]

    def result(self, n_docs: int, n_skipped: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for k in self.ks:
            out[f"P@{k}"] = self.hits[:k].sum() / (k * n_docs)
            out[f"RP@{k}"] = self.r_precision[k - 1] / n_docs
            out[f"nDCG@{k}"] = self.ndcg[k - 1] / n_docs
        if self.psp is not None:
            for k in self.ks:
                out[f"PSP@{k}"] = self.psp[:k].sum() / self.psp_best[:k].sum()
        if self.f1_counts is not None:
            true_positives, predicted, actual = self.f1_counts
            out["micro-F1"] = _f1(true_positives.sum(), predicted.sum() + actual.sum())
            out["macro-F1"] = float(np.mean(_f1(true_positives, predicted + actual)))
        out = {key: float(value) for key, value in out.items()}
        out.update(n_docs=n_docs, n_skipped=n_skipped)
        return out


def _sparse_lookup(targets: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """Bool ``(n, c)``: whether ``targets[i, columns[i, j]]`` is a true label, without a dense ``targets``."""
    num_labels = targets.shape[1]
    rows = np.repeat(np.arange(targets.shape[0]), np.diff(targets.indptr))
    true_keys = rows * num_labels + targets.indices  # sorted: CSR rows in order, sorted indices
    keys = np.arange(columns.shape[0])[:, None] * num_labels + columns
    if not true_keys.size:
        return np.zeros(keys.shape, dtype=bool)
    found = np.searchsorted(true_keys, keys).clip(max=true_keys.size - 1)
    return true_keys[found] == keys


def _r_precision_sums(hits: np.ndarray, num_true: np.ndarray) -> np.ndarray:
    """Sum over documents of RP@k = hits in the top k / min(k, |y|), for k = 1..k_max (entry k-1)."""
    depth = np.minimum(np.arange(1, hits.shape[1] + 1)[None, :], num_true[:, None])
    return (np.cumsum(hits, axis=1) / depth).sum(axis=0)


def _ndcg_sums(hits: np.ndarray, num_true: np.ndarray, discounts: np.ndarray) -> np.ndarray:
    """Sum over documents of nDCG@k for k = 1..k_max (entry k-1)."""
    dcg = np.cumsum(hits * discounts, axis=1)
    ideal_cumulative = np.cumsum(discounts)
    depth = np.minimum(np.arange(1, len(discounts) + 1)[None, :], num_true[:, None])
    return (dcg / ideal_cumulative[depth - 1]).sum(axis=0)


def _best_gains(targets: sp.csr_matrix, inverse: np.ndarray, k_max: int) -> np.ndarray:
    """Sum over documents of the r-th largest inverse propensity among the true labels (entry r)."""
    gains = inverse[targets.indices]
    rows = np.repeat(np.arange(targets.shape[0]), np.diff(targets.indptr))
    order = np.lexsort((-gains, rows))
    rank = np.arange(gains.size) - targets.indptr[rows[order]]
    keep = rank < k_max
    return np.bincount(rank[keep], weights=gains[order][keep], minlength=k_max)


def _keep_lowest_index_on_ties(scores: np.ndarray, chosen: np.ndarray, kth: np.ndarray, k: int) -> None:
    """Where more than k scores reach the k-th largest, keep the tied ones of lowest index (in place)."""
    redo = np.flatnonzero(chosen.sum(axis=1) > k)
    if redo.size:
        sub, kth_sub = scores[redo], kth[redo]
        above, tied = sub > kth_sub, sub == kth_sub
        needed = k - above.sum(axis=1, keepdims=True)
        chosen[redo] = above | (tied & (np.cumsum(tied, axis=1) <= needed))


def _pad(values: np.ndarray, width: int) -> np.ndarray:
    """Zero columns up to ``width`` (when there are fewer labels than k)."""
    return np.pad(values, ((0, 0), (0, width - values.shape[1]))) if values.shape[1] < width else values


def _f1(true_positives, predicted_plus_actual):
    """``2 TP / (predicted + actual)``, 0 where nothing was predicted or true."""
    denominator = np.asarray(predicted_plus_actual, dtype=np.float64)
    return np.divide(2.0 * true_positives, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _to_numpy(array) -> np.ndarray:
    if type(array).__module__.startswith("torch"):
        array = array.detach().cpu()
        if array.dtype.is_floating_point and array.element_size() < 4:
            array = array.float()
        array = array.numpy()
    return np.asarray(array)


def _as_scores(scores) -> np.ndarray:
    scores = _to_numpy(scores)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be a 2-D (documents, labels) array, got shape {scores.shape}")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; rank needs finite scores (or +-inf)")
    return scores


def _as_targets(targets, shape: tuple[int, int]) -> sp.csr_matrix:
    targets = sp.csr_matrix(targets if sp.issparse(targets) else _to_numpy(targets), copy=True)
    if targets.shape != shape:
        raise ValueError(f"targets have shape {targets.shape} but scores have shape {shape}")
    targets.eliminate_zeros()
    targets.sort_indices()
    return targets


def _check_ks(ks: Sequence[int]) -> list[int]:
    ks = list(ks)
    if not ks or any(int(k) != k or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {ks}")
    return [int(k) for k in ks]


def _inverse_propensities(propensities, num_labels: int) -> np.ndarray | None:
    if propensities is None:
        return None
    values = _to_numpy(propensities).astype(np.float64).ravel()
    if values.shape != (num_labels,) or not ((values > 0) & (values <= 1)).all():
        raise ValueError(f"propensities must be {num_labels} values in (0, 1], one per label")
    return 1.0 / values
