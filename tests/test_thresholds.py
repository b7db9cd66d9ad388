"""Tuned thresholds against a brute-force search over every distinct threshold on small data."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import f1_score

from uclaf_plugin.metrics import evaluate
from uclaf_plugin.thresholds import (
    Thresholds,
    apply_thresholds,
    decision_f1,
    tune_thresholds,
)


def small_problem(seed: int, n: int = 40, labels: int = 5):
    """Scores rounded to 0.05 (so there are ties) that carry some signal about the targets."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, labels)) < 0.3).astype(int)
    targets[rng.random(n) < 0.1] = 0  # documents without a true label are left out of F1
    scores = np.round(np.clip(0.35 * targets + rng.random((n, labels)) * 0.7, 0, 1) / 0.05) * 0.05
    return scores, targets


def sklearn_f1(decided, targets, average):
    rows = targets.any(axis=1)
    return f1_score(targets[rows], decided[rows].astype(int), average=average, zero_division=0)


def every_threshold(values):
    """Each distinct value, and one above them all (predict nothing)."""
    distinct = np.unique(values)
    return [*distinct, distinct[-1] + 1.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("objective", ["micro-F1", "macro-F1"])
@pytest.mark.parametrize("at_least_one", [False, True])
def test_global_threshold_is_the_brute_force_optimum(seed, objective, at_least_one):
    scores, targets = small_problem(seed)
    average = objective.split("-")[0]
    tuned = tune_thresholds(scores, targets, objective=objective, at_least_one=at_least_one)
    brute = max(
        sklearn_f1(apply_thresholds(scores, t, at_least_one), targets, average)
        for t in every_threshold(scores)
    )
    reached = sklearn_f1(tuned.decide(scores, kind="global"), targets, average)
    assert reached == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_per_label_thresholds_reach_each_labels_best_f1(seed):
    scores, targets = small_problem(seed)
    rows = targets.any(axis=1)
    tuned = tune_thresholds(scores, targets, objective="macro-F1", min_positives=1)
    assert tuned.tuned.all()
    decided = tuned.decide(scores)
    for j in range(scores.shape[1]):
        best = max(
            f1_score(targets[rows, j], (scores[rows, j] >= t).astype(int), zero_division=0)
            for t in every_threshold(scores[rows, j])
        )
        assert f1_score(targets[rows, j], decided[rows, j], zero_division=0) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_micro_per_label_thresholds_are_a_coordinate_optimum_above_the_global_one(seed):
    scores, targets = small_problem(seed)
    rows = targets.any(axis=1)
    tuned = tune_thresholds(scores, targets, objective="micro-F1", min_positives=1)
    chosen = tuned.vector()
    reached = sklearn_f1(tuned.decide(scores), targets, "micro")
    assert reached >= sklearn_f1(tuned.decide(scores, kind="global"), targets, "micro") - 1e-12
    for j in range(scores.shape[1]):  # no single label's threshold change helps (brute force)
        for t in every_threshold(scores[rows, j]):
            trial = chosen.copy()
            trial[j] = t
            assert sklearn_f1(apply_thresholds(scores, trial), targets, "micro") <= reached + 1e-12


def test_labels_too_rare_to_tune_keep_the_global_threshold():
    scores, targets = small_problem(0, n=60)
    targets[:, 2] = 0
    targets[[3, 7], 2] = 1  # two positives: below min_positives=3
    tuned = tune_thresholds(scores, targets, min_positives=3)
    assert not tuned.tuned[2] and tuned.per_label[2] == tuned.global_threshold
    assert tuned.tuned[[0, 1, 3, 4]].all()


def test_at_least_one_gives_every_document_its_best_label():
    scores = np.array([[0.1, 0.3, 0.2], [0.9, 0.2, 0.95], [0.2, 0.2, 0.1]])
    decided = apply_thresholds(scores, np.array([0.5, 0.5, 0.5]), at_least_one=True)
    expected = np.array([[0, 1, 0], [1, 0, 1], [1, 0, 0]], dtype=bool)  # row 3: a tie goes to the lower index
    np.testing.assert_array_equal(decided, expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_decision_f1_matches_evaluate_and_sklearn(seed):
    scores, targets = small_problem(seed)
    expected = evaluate(scores, targets, threshold=0.5)
    got = decision_f1(scores >= 0.5, sp.csr_matrix(targets))
    assert got["micro-F1"] == pytest.approx(expected["micro-F1"])
    assert got["macro-F1"] == pytest.approx(expected["macro-F1"])
    assert got["macro-F1"] == pytest.approx(sklearn_f1(scores >= 0.5, targets, "macro"))


def test_many_distinct_scores_search_quantile_candidates():
    rng = np.random.default_rng(0)
    targets = (rng.random((300, 4)) < 0.3).astype(int)
    scores = 0.3 * targets + rng.random((300, 4))
    coarse = tune_thresholds(scores, targets, max_candidates=16)
    exact = tune_thresholds(scores, targets, max_candidates=10_000)
    labelled = targets.any(axis=1)  # the documents that F1 counts
    assert coarse.global_threshold in np.quantile(np.unique(scores[labelled]), np.linspace(0, 1, 16))
    coarse_f1 = decision_f1(coarse.decide(scores, kind="global"), targets)["micro-F1"]
    exact_f1 = decision_f1(exact.decide(scores, kind="global"), targets)["micro-F1"]
    assert coarse_f1 <= exact_f1 + 1e-12 and coarse_f1 > exact_f1 - 0.05


def test_save_and_load_round_trip(tmp_path):
    scores, targets = small_problem(0)
    tuned = tune_thresholds(scores, targets, objective="macro-F1", at_least_one=True)
    names = [f"label{j}" for j in range(scores.shape[1])]
    tuned.save(tmp_path, names)
    loaded = Thresholds.load(tmp_path, names)
    np.testing.assert_array_equal(loaded.decide(scores), tuned.decide(scores))
    assert loaded.objective == "macro-F1" and loaded.at_least_one
    with pytest.raises(ValueError, match="labels differ"):
        Thresholds.load(tmp_path, names[::-1])


def test_bad_input_is_named():
    scores, targets = small_problem(0)
    with pytest.raises(ValueError, match="objective must be one of"):
        tune_thresholds(scores, targets, objective="accuracy")
    with pytest.raises(ValueError, match="no validation document has a true label"):
        tune_thresholds(scores, np.zeros_like(targets))
    with pytest.raises(ValueError, match="targets have shape"):
        tune_thresholds(scores, targets[:, :2])
