"""evaluate(): hand-computed examples, a slow reference loop, sklearn F1, input kinds, ties, skipped docs."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import f1_score

from uclaf_plugin.metrics import evaluate, jain_propensities, label_groups, top_k

# Document 0 ranks labels 0, 2, 3, 1 and has labels {0, 3}: hits 1, 0, 1.
# Document 1 ranks labels 1, 2, 0, 3 and has label {2}: hits 0, 1, 0.
# Document 2 has no label: skipped.
SCORES = np.array([[0.9, 0.1, 0.8, 0.3], [0.2, 0.7, 0.6, 0.1], [0.5, 0.4, 0.3, 0.2]])
TARGETS = np.array([[1, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]])


def test_hand_computed_precision_and_ndcg():
    result = evaluate(SCORES, TARGETS, ks=(1, 3))
    assert result["P@1"] == pytest.approx((1 + 0) / 2)
    assert result["P@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert result["nDCG@1"] == pytest.approx((1 + 0) / 2)
    # doc 0: DCG = 1/log2(2) + 1/log2(4) = 1.5 over ideal (2 true labels) 1 + 1/log2(3)
    # doc 1: DCG = 1/log2(3) over ideal (1 true label) 1
    expected_ndcg3 = (1.5 / (1 + 1 / math.log2(3)) + 1 / math.log2(3)) / 2
    assert result["nDCG@3"] == pytest.approx(expected_ndcg3)
    assert (result["n_docs"], result["n_skipped"]) == (2, 1)


def test_hand_computed_r_precision():
    result = evaluate(SCORES, TARGETS, ks=(1, 3))
    # doc 0 (2 true labels): 1 hit in top 1 -> 1/1; 2 hits in top 3 -> 2/min(3, 2) = 1
    # doc 1 (1 true label): 0 hits in top 1 -> 0; 1 hit in top 3 -> 1/min(3, 1) = 1
    assert result["RP@1"] == pytest.approx((1 + 0) / 2)
    assert result["RP@3"] == pytest.approx((1 + 1) / 2)


def test_hand_computed_propensity_scored_precision():
    propensities = np.array([0.5, 1.0, 0.25, 0.8])  # inverse: 2, 1, 4, 1.25
    result = evaluate(SCORES, TARGETS, ks=(1, 3), propensities=propensities)
    # @1: gains 2 (doc 0 hits label 0) + 0; best 2 (label 0) + 4 (label 2)
    assert result["PSP@1"] == pytest.approx((2 + 0) / (2 + 4))
    # @3: gains 2 + 1.25 and 4; best the same: every true label is in the top 3
    assert result["PSP@3"] == pytest.approx(1.0)


def test_hand_computed_f1_at_threshold():
    result = evaluate(SCORES, TARGETS, ks=(1,), threshold=0.5)
    # predictions (>= 0.5), doc 0: {0, 2}, doc 1: {1, 2}; doc 2 is skipped.
    # label 0: tp 1, fp 0, fn 0 -> 1; label 1: fp 1 -> 0; label 2: tp 1, fp 1 -> 2/3; label 3: fn 1 -> 0
    assert result["macro-F1"] == pytest.approx((1 + 0 + 2 / 3 + 0) / 4)
    # micro: tp 2, predicted 4, true 3 -> 4 / 7
    assert result["micro-F1"] == pytest.approx(4 / 7)
    assert "micro-F1" not in evaluate(SCORES, TARGETS)


def reference_metrics(scores, targets, ks, propensities):
    """Straightforward per-document loops: rank by (-score, index), then the textbook formulas."""
    out = {f"{name}@{k}": 0.0 for name in ("P", "RP", "nDCG") for k in ks}
    psp_gain = dict.fromkeys(ks, 0.0)
    psp_best = dict.fromkeys(ks, 0.0)
    docs = 0
    for row_scores, row_targets in zip(scores, targets, strict=True):
        truth = {j for j, value in enumerate(row_targets) if value}
        if not truth:
            continue
        docs += 1
        ranking = sorted(range(len(row_scores)), key=lambda j: (-row_scores[j], j))
        best_inverse = sorted((1 / propensities[j] for j in truth), reverse=True)
        for k in ks:
            top = ranking[:k]
            out[f"P@{k}"] += sum(j in truth for j in top) / k
            out[f"RP@{k}"] += sum(j in truth for j in top) / min(k, len(truth))
            dcg = sum(1 / math.log2(r + 2) for r, j in enumerate(top) if j in truth)
            ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(truth))))
            out[f"nDCG@{k}"] += dcg / ideal
            psp_gain[k] += sum(1 / propensities[j] for j in top if j in truth)
            psp_best[k] += sum(best_inverse[:k])
    out = {key: value / docs for key, value in out.items()}
    out.update({f"PSP@{k}": psp_gain[k] / psp_best[k] for k in ks})
    return out


@pytest.mark.parametrize("kind", ["continuous", "many ties"])
def test_matches_a_slow_reference_loop_on_random_data(kind):
    rng = np.random.default_rng(0)
    n, num_labels = 150, 12
    scores = rng.normal(size=(n, num_labels)) if kind == "continuous" else rng.integers(0, 3, (n, num_labels))
    targets = rng.random((n, num_labels)) < 0.2
    propensities = rng.uniform(0.1, 1.0, num_labels)
    ks = (1, 3, 5)
    result = evaluate(scores, targets, ks=ks, propensities=propensities)
    expected = reference_metrics(scores, targets, ks, propensities)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), key
    assert result["n_docs"] + result["n_skipped"] == n
    assert result["n_skipped"] == int((targets.sum(axis=1) == 0).sum())


def test_label_groups_follow_the_lmtc_thresholds():
    groups = label_groups([0, 1, 50, 51, 400, 0])
    assert groups["frequent"].tolist() == [3, 4]
    assert groups["few"].tolist() == [1, 2]
    assert groups["zero"].tolist() == [0, 5]
    with pytest.raises(ValueError, match="3 non-negative"):
        label_groups([1, 2], num_labels=3)


def test_group_metrics_match_the_reference_on_the_group_columns_only():
    rng = np.random.default_rng(4)
    n, num_labels = 120, 9
    scores = rng.normal(size=(n, num_labels))
    targets = rng.random((n, num_labels)) < 0.25
    counts = np.array([0, 3, 80, 51, 50, 0, 200, 1, 7])
    propensities = rng.uniform(0.2, 1.0, num_labels)
    result = evaluate(scores, sp.csr_matrix(targets), propensities=propensities, label_counts=counts)
    for group, columns in {"frequent": [2, 3, 6], "few": [1, 4, 7, 8], "zero": [0, 5]}.items():
        expected = reference_metrics(
            scores[:, columns], targets[:, columns], (1, 3, 5), propensities[columns]
        )
        for key, value in expected.items():
            assert result[f"{group}/{key}"] == pytest.approx(value), (group, key)
        assert result[f"{group}/n_docs"] == int(targets[:, columns].any(axis=1).sum())
        assert result[f"{group}/n_labels"] == len(columns)
    assert result["P@1"] == pytest.approx(reference_metrics(scores, targets, (1,), propensities)["P@1"])


def test_a_group_without_true_labels_is_left_out():
    result = evaluate(SCORES, TARGETS, ks=(1,), label_counts=[100, 0, 100, 100])  # label 1 never true
    assert "frequent/P@1" in result and not any(key.startswith("zero/") for key in result)
    assert not any(key.startswith("few/") for key in result)


def test_f1_matches_sklearn_on_evaluated_documents():
    rng = np.random.default_rng(1)
    scores = rng.random((200, 15))
    targets = (rng.random((200, 15)) < 0.15).astype(int)
    targets[:, 14] = 0  # a label never true...
    scores[:, 14] = 0.0  # ...and never predicted: F1 0 in the macro mean
    result = evaluate(scores, targets, threshold=0.6)
    rows = targets.sum(axis=1) > 0
    predicted = (scores >= 0.6).astype(int)
    assert result["micro-F1"] == pytest.approx(f1_score(targets[rows], predicted[rows], average="micro"))
    macro = f1_score(targets[rows], predicted[rows], average="macro", zero_division=0)
    assert result["macro-F1"] == pytest.approx(macro)


def test_sparse_dense_numpy_and_torch_inputs_agree():
    rng = np.random.default_rng(2)
    scores = rng.random((300, 40)).astype(np.float32)
    targets = (rng.random((300, 40)) < 0.1).astype(np.float32)
    options = {"ks": (1, 3, 5), "propensities": np.full(40, 0.5), "threshold": 0.5}
    dense = evaluate(scores, targets, **options)
    assert evaluate(scores, sp.csr_matrix(targets), **options) == dense
    assert evaluate(torch.from_numpy(scores), torch.from_numpy(targets), **options) == dense
    assert (
        evaluate(torch.from_numpy(scores).to(torch.bfloat16), sp.csr_array(targets), **options)["n_docs"]
        == (dense["n_docs"])
    )


def test_row_blocks_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(3)
    scores, targets = rng.random((500, 30)), rng.random((500, 30)) < 0.1
    counts = rng.integers(0, 100, 30)
    whole = evaluate(scores, targets, propensities=np.full(30, 0.3), threshold=0.5, label_counts=counts)
    monkeypatch.setattr("uclaf_plugin.metrics.BLOCK_ROWS", 7)
    blocked = evaluate(scores, targets, propensities=np.full(30, 0.3), threshold=0.5, label_counts=counts)
    assert blocked == pytest.approx(whole)


def test_ties_go_to_the_lower_label_index():
    assert top_k(np.array([[0.5, 0.5, 0.5, 0.5]]), 2).tolist() == [[0, 1]]
    assert top_k(np.array([[0.1, 0.7, 0.7, 0.9, 0.7]]), 3).tolist() == [[3, 1, 2]]
    # Every score tied: the top 1 is label 0, so a document whose label is 3 gets no hit.
    flat = np.full((2, 4), 0.5)
    result = evaluate(flat, np.array([[0, 0, 0, 1], [1, 0, 0, 0]]), ks=(1,))
    assert result["P@1"] == 0.5


def test_k_larger_than_the_number_of_labels_still_divides_by_k():
    result = evaluate(np.array([[0.2, 0.9]]), np.array([[1, 1]]), ks=(1, 5))
    assert result["P@5"] == pytest.approx(2 / 5)
    assert result["nDCG@5"] == pytest.approx(1.0)
    assert top_k(np.array([[0.2, 0.9]]), 5).tolist() == [[1, 0]]


def test_top_k_matches_a_stable_sort_and_is_the_ranking_of_predict_and_the_estimator():
    """One ranking everywhere: metrics.top_k, TextClassifier's rank_labels and the estimator's best_labels."""
    from uclaf_plugin.integrations.sklearn import best_labels
    from uclaf_plugin.pipeline import rank_labels

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(50, 9)).astype(np.float32)  # many ties
    reference = np.argsort(-scores, axis=1, kind="stable")  # slow reference: a stable sort, lower index first
    for k in (0, 1, 3, 9, 12):
        assert top_k(scores, k).tolist() == reference[:, :k].tolist()
        names = [f"l{j}" for j in range(9)]
        assert [[name for name, _ in row] for row in rank_labels(scores, names, k)] == [
            [names[j] for j in row] for row in reference[:, :k]
        ]
        expected = np.zeros(scores.shape, dtype=bool)
        np.put_along_axis(expected, reference[:, :k], True, axis=1)
        assert (best_labels(scores, k) == expected).all()


def test_jain_propensities_formula():
    counts = np.array([0, 1, 10, 1000])
    n, a, b = 5000, 0.55, 1.5
    c = (math.log(n) - 1) * (b + 1) ** a
    expected = [1 / (1 + c * (count + b) ** -a) for count in counts]
    assert jain_propensities(counts, n) == pytest.approx(expected)
    assert np.all(np.diff(jain_propensities(counts, n)) > 0)  # frequent labels are more likely observed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: evaluate(np.zeros((2, 3)), np.zeros((2, 4))), "targets have shape"),
        (lambda: evaluate(np.zeros((2, 3)), np.zeros((2, 3))), "no document has a true label"),
        (lambda: evaluate(np.array([[np.nan, 1.0]]), np.array([[1, 0]])), "NaN"),
        (lambda: evaluate(np.zeros((1, 2)), np.array([[1, 0]]), ks=(0,)), "ks must be positive"),
        (
            lambda: evaluate(np.zeros((1, 2)), np.array([[1, 0]]), propensities=[0.5]),
            "propensities must be 2",
        ),
        (lambda: jain_propensities([1, -1], 10), "non-negative"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
