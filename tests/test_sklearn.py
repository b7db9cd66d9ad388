"""UCLAFClassifier as a scikit-learn / scikit-multilearn estimator (tiny XML-CNN encoder, fast)."""

from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import label_ranking_average_precision_score, make_scorer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skmultilearn.model_selection import IterativeStratification

from uclaf_plugin.integrations.sklearn import UCLAFClassifier

TINY = dict(
    encoder="xmlcnn",
    init_embeddings=False,
    encoder_kwargs={"embedding_dim": 32, "num_filters": 16},
    head_kwargs={"attention_dim": 16},
    queue_size=64,
    epochs=8,
    lr=1e-2,
    head_lr=1e-2,
    device="cpu",
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: these models are tiny, and threads spin slowly when other processes share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus():
    from uclaf_plugin.data import load_dataset

    data = load_dataset(
        "synthetic", num_docs=200, num_labels=6, num_groups=2, doc_length=20, difficulty="easy", seed=0
    )
    train = data.train.texts + data.val.texts
    return (
        train,
        data.binarize(data.train.labels + data.val.labels),
        data.test.texts,
        data.binarize(data.test.labels),
    )


@pytest.fixture(scope="module")
def fitted(corpus):
    texts, targets, _, _ = corpus
    return UCLAFClassifier(**TINY).fit(texts, targets)


def random_lrap(targets, seed=0) -> float:
    """LRAP of uniformly random scores: what a model that learned nothing gets."""
    dense = targets.toarray()
    return label_ranking_average_precision_score(dense, np.random.default_rng(seed).random(dense.shape))


def test_learns_the_synthetic_labels(fitted, corpus):
    _, _, test_texts, test_targets = corpus
    scores = fitted.predict_proba(test_texts)
    assert scores.shape == test_targets.shape
    learned = label_ranking_average_precision_score(test_targets.toarray(), scores)
    assert learned > random_lrap(test_targets) + 0.15


def test_grid_search_with_iterative_stratification(corpus):
    texts, targets, _, _ = corpus
    search = GridSearchCV(
        UCLAFClassifier(**TINY),
        {"lambda_": [0.0, 0.5]},
        cv=IterativeStratification(n_splits=2, order=1),
        scoring=make_scorer(label_ranking_average_precision_score, response_method="predict_proba"),
    )
    search.fit(texts, targets)
    assert [p["lambda_"] for p in search.cv_results_["params"]] == [0.0, 0.5]
    assert search.best_params_["lambda_"] in (0.0, 0.5)
    assert search.best_score_ > random_lrap(targets) + 0.1
    assert search.best_estimator_.lambda_ == search.best_params_["lambda_"]
    assert search.predict(texts[:5]).shape == (5, targets.shape[1])


def test_clone_keeps_params_and_drops_fitted_state(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert copy.encoder_kwargs == TINY["encoder_kwargs"] and copy.encoder_kwargs is not fitted.encoder_kwargs
    assert not hasattr(copy, "classifier_") and not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        copy.predict(["a text"])


def test_set_params_and_copyable_attrs_cover_the_constructor():
    estimator = UCLAFClassifier()
    assert set(estimator.copyable_attrs) == set(estimator.get_params())
    assert estimator.set_params(lambda_=0.25, top_k=2) is estimator
    assert (estimator.lambda_, estimator.top_k) == (0.25, 2)
    with pytest.raises(ValueError, match="Invalid parameter"):
        estimator.set_params(lambda__=1.0)


def test_pipeline_passes_texts_through(corpus):
    texts, targets, test_texts, _ = corpus
    pipeline = make_pipeline(
        FunctionTransformer(lambda docs: [d.upper() for d in docs]), UCLAFClassifier(**TINY)
    )
    pipeline.set_params(uclafclassifier__epochs=2)
    pipeline.fit(texts, targets)
    assert pipeline.named_steps["uclafclassifier"].epochs == 2
    predicted = pipeline.predict(test_texts)
    assert sp.issparse(predicted) and predicted.shape == (len(test_texts), targets.shape[1])


@contextmanager
def settings(estimator, **params):
    """Set decision parameters of a fitted estimator for one block, then restore them."""
    before = {name: getattr(estimator, name) for name in params}
    estimator.set_params(**params)
    try:
        yield estimator
    finally:
        estimator.set_params(**before)


def test_predict_thresholds_the_probabilities(fitted, corpus):
    test_texts = corpus[2]
    scores = fitted.predict_proba(test_texts)
    for threshold in (0.3, 0.5):
        with settings(fitted, threshold=threshold):
            labels = fitted.predict(test_texts)
        assert sp.issparse(labels) and labels.shape == scores.shape
        np.testing.assert_array_equal(labels.toarray(), (scores >= threshold).astype(int))


def test_decision_function_is_the_logit_of_predict_proba(fitted, corpus):
    test_texts = corpus[2]
    logits = fitted.decision_function(test_texts)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), fitted.predict_proba(test_texts), rtol=1e-6)


def test_top_k_marks_the_k_best_labels(fitted, corpus):
    test_texts = corpus[2]
    scores = fitted.predict_proba(test_texts)
    with settings(fitted, top_k=2):
        labels = fitted.predict(test_texts).toarray().astype(bool)
    assert (labels.sum(1) == 2).all()
    chosen_min = np.where(labels, scores, np.inf).min(1)
    other_max = np.where(labels, -np.inf, scores).max(1)
    assert (chosen_min >= other_max).all()


def test_min_labels_adds_the_best_label_to_empty_rows(fitted, corpus):
    test_texts = corpus[2]
    scores = fitted.predict_proba(test_texts)
    with settings(fitted, threshold=0.99, min_labels=1):
        labels = fitted.predict(test_texts).toarray().astype(bool)
    expected = scores >= 0.99
    expected[np.arange(len(scores)), scores.argmax(1)] = True
    np.testing.assert_array_equal(labels, expected)


def test_same_random_state_gives_the_same_model(corpus):
    texts, targets, test_texts, _ = corpus
    settings = {**TINY, "epochs": 1}
    first = UCLAFClassifier(**settings).fit(texts, targets).predict_proba(test_texts)
    second = UCLAFClassifier(**settings).fit(texts, targets).predict_proba(test_texts)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "y, message",
    [
        (np.zeros((3, 2)), "y has 3 rows but X has 4"),
        (np.array([[0, 1], [1, 2], [0, 0], [1, 1]]), r"only 0 and 1.*\[2\]"),
        (np.array([0, 1, 1, 0]), "y must be 2-D"),
        (np.zeros((4, 2, 2)), "y must be 2-D"),
        (sp.csr_matrix(np.array([[0, 1], [1, 0], [0.5, 0], [1, 1]])), r"only 0 and 1.*\[0.5\]"),
        (np.zeros((4, 0)), "y has no label columns"),
        (np.array([["a", "b"]] * 4), "y must hold numbers"),
        (None, "y is required"),
    ],
)
def test_bad_y_is_rejected(y, message):
    with pytest.raises(ValueError, match=message):
        UCLAFClassifier(**TINY).fit(["one", "two", "three", "four"], y)


@pytest.mark.parametrize(
    "X, message",
    [
        ("one text", "single string"),
        ([1, 2, 3, 4], r"X\[0\] is int"),
        (np.array([["a", "b"]] * 4), r"X must be 1-D"),
        (5, "sequence of strings"),
    ],
)
def test_bad_x_is_rejected(X, message):
    with pytest.raises(ValueError, match=message):
        UCLAFClassifier(**TINY).fit(X, np.zeros((4, 2)))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"top_k": 3}, "top_k must be"),
        ({"threshold": 1.5}, "threshold must be"),
        ({"min_labels": -1}, "min_labels"),
    ],
)
def test_bad_decision_settings_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        UCLAFClassifier(**TINY, **params).fit(["one", "two"], np.eye(2))


def test_tuned_thresholds_come_from_the_held_out_documents(corpus):
    from uclaf_plugin.thresholds import decision_f1, tune_thresholds

    texts, targets, test_texts, _ = corpus
    estimator = UCLAFClassifier(**{**TINY, "epochs": 3}, threshold="tuned", validation_fraction=0.25)
    estimator.fit(texts, targets)
    held_out = np.sort(np.random.default_rng(0).permutation(len(texts))[: round(0.25 * len(texts))])
    held_texts, held_targets = [texts[i] for i in held_out], targets[held_out]
    held_scores = estimator.predict_proba(held_texts)
    expected = tune_thresholds(held_scores, held_targets)
    np.testing.assert_array_equal(estimator.thresholds_.per_label, expected.per_label)
    tuned = decision_f1(estimator.predict(held_texts).toarray() > 0, held_targets)["micro-F1"]
    assert tuned >= decision_f1(held_scores >= 0.5, held_targets)["micro-F1"]
    scores = estimator.predict_proba(test_texts)
    np.testing.assert_array_equal(estimator.predict(test_texts).toarray() > 0, expected.decide(scores))
    with settings(estimator, threshold=0.5):
        np.testing.assert_array_equal(estimator.predict(test_texts).toarray() > 0, scores >= 0.5)


def test_tuned_threshold_settings_are_checked(corpus):
    texts, targets, _, _ = corpus
    with pytest.raises(ValueError, match="threshold_objective must be one of"):
        UCLAFClassifier(**TINY, threshold="tuned", threshold_objective="accuracy").fit(texts, targets)
    with pytest.raises(ValueError, match="validation_fraction"):
        UCLAFClassifier(**TINY, threshold="tuned", validation_fraction=1.5).fit(texts, targets)
    with pytest.raises(ValueError, match="threshold must be 'tuned' or in"):
        UCLAFClassifier(**TINY, threshold="best").fit(texts, targets)


def test_a_linear_head_can_start_its_bias_at_the_label_prior(corpus):
    texts, targets, _, _ = corpus
    params = {**TINY, "head": "linear", "contrastive": None, "head_kwargs": {"bias_init": "prior"}}
    estimator = UCLAFClassifier(**{**params, "epochs": 1, "lr": 1e-9, "head_lr": 1e-9}).fit(texts, targets)
    share = np.asarray(targets.sum(0), dtype=np.float64).ravel() / targets.shape[0]
    bias = estimator.classifier_.model.head.classifier.bias.detach().numpy()
    np.testing.assert_allclose(bias, np.log(share / (1 - share)), atol=1e-3)  # lr 1e-9: the start, kept
