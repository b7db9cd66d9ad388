import numpy as np
import pytest
import scipy.sparse as sp

from uclaf_plugin.baselines.linear import LinearBaseline

TOPIC_WORDS = {
    "sport": ["football", "goal", "match", "team", "league"],
    "finance": ["stock", "market", "shares", "bank", "profit"],
    "weather": ["rain", "storm", "forecast", "wind", "snow"],
}
LABELS = list(TOPIC_WORDS)


def tiny_corpus(num_docs=60, seed=0):
    """Each document mixes the words of its topics with shared filler words; labels are its topics."""
    rng = np.random.default_rng(seed)
    filler = ["the", "a", "today", "people", "said", "new", "year"]
    texts, Y = [], np.zeros((num_docs, len(LABELS)), dtype=int)
    for i in range(num_docs):
        topics = rng.choice(len(LABELS), size=1 + (i % 3 == 0), replace=False)
        words = list(rng.choice(filler, size=6))
        for t in topics:
            words += list(rng.choice(TOPIC_WORDS[LABELS[t]], size=3))
            Y[i, t] = 1
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, Y


@pytest.mark.parametrize("estimator", ["svm", "logreg"])
def test_obvious_labels_rank_first(estimator):
    texts, Y = tiny_corpus()
    model = LinearBaseline(estimator=estimator).fit(texts, sp.csr_matrix(Y))
    scores = model.decision_function(
        ["the goal of the football team", "storm and snow today", "bank profit up"]
    )
    assert scores.shape == (3, 3)
    assert scores.argmax(1).tolist() == [0, 2, 1]


def test_dense_and_sparse_targets_give_the_same_model():
    texts, Y = tiny_corpus()
    dense = LinearBaseline().fit(texts, Y).decision_function(texts[:5])
    sparse = LinearBaseline().fit(texts, sp.csc_matrix(Y)).decision_function(texts[:5])
    np.testing.assert_allclose(dense, sparse)


def test_labels_without_a_positive_or_a_negative_get_constant_extreme_scores():
    texts, Y = tiny_corpus()
    Y = np.column_stack([np.zeros(len(texts), dtype=int), Y, np.ones(len(texts), dtype=int)])
    scores = LinearBaseline().fit(texts, Y).decision_function(["rain and wind", "shares fell"])
    assert (scores[:, 0] == scores[0, 0]).all() and (scores[:, 0] < scores[:, 1:-1].min()).all()
    assert (scores[:, -1] == scores[0, -1]).all() and (scores[:, -1] > scores[:, 1:-1].max()).all()
    assert scores[:, 1:-1].argmax(1).tolist() == [2, 1]


def test_save_and_load_round_trip(tmp_path):
    texts, Y = tiny_corpus()
    model = LinearBaseline(estimator="logreg", C=2.0).fit(texts, Y)
    model.save(tmp_path / "linear")
    loaded = LinearBaseline.load(tmp_path / "linear")
    np.testing.assert_array_equal(loaded.decision_function(texts), model.decision_function(texts))
    assert loaded.params == model.params


def test_bad_input_raises():
    texts, Y = tiny_corpus()
    with pytest.raises(ValueError, match="estimator"):
        LinearBaseline(estimator="tree")
    with pytest.raises(ValueError, match="shape"):
        LinearBaseline().fit(texts, Y[:-1])
    with pytest.raises(ValueError, match="0 or 1"):
        LinearBaseline().fit(texts, Y * 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearBaseline().decision_function(texts)
    with pytest.raises(FileNotFoundError, match="linear_baseline.joblib"):
        LinearBaseline.load("/nonexistent/folder")


@pytest.mark.slow
@pytest.mark.data
def test_reuters_modapte90_precision_at_1(shared_data):
    data = pytest.importorskip("uclaf_plugin.data")
    metrics = pytest.importorskip("uclaf_plugin.metrics")
    dataset = data.load_dataset("reuters", data_dir=shared_data)
    train_texts = dataset.train.texts + dataset.val.texts
    train_labels = dataset.train.labels + dataset.val.labels
    model = LinearBaseline().fit(train_texts, dataset.binarize(train_labels))
    result = metrics.evaluate(
        model.decision_function(dataset.test.texts), dataset.binarize(dataset.test.labels)
    )
    assert len(dataset.label_names) == 90
    assert result["P@1"] >= 0.93


def test_chunked_threaded_fit_matches_one_sklearn_classifier_per_label(monkeypatch):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    texts, Y = tiny_corpus(num_docs=80, seed=3)
    monkeypatch.setattr("uclaf_plugin.baselines.linear.LABELS_PER_TASK", 2)  # several chunks over 2 threads
    scores = LinearBaseline(n_jobs=2).fit(texts, Y).decision_function(texts[:7])
    features = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    expected = np.column_stack(
        [
            LinearSVC(C=1.0, dual=True, random_state=0).fit(features, Y[:, j]).decision_function(features[:7])
            for j in range(Y.shape[1])
        ]
    )
    # LIBLINEAR's coordinate order draws from one C random state that concurrent threads share: equal up to the
    # solver's tolerance, not bit for bit
    np.testing.assert_allclose(scores, expected, atol=1e-3)
    single = LinearBaseline(n_jobs=1).fit(texts, Y).decision_function(texts[:7])
    np.testing.assert_allclose(single, expected, atol=1e-3)
    assert (scores.argmax(axis=1) == expected.argmax(axis=1)).all()
