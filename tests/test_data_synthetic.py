"""The synthetic corpus: deterministic, correlated labels, learnable on "normal", not separable on "hard"."""

import re

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from uclaf_plugin.data import load_dataset, make_synthetic
from uclaf_plugin.data.synthetic import CONSONANTS, VOWELS


def tfidf_precision_at_1(dataset) -> float:
    """P@1 on test of a TF-IDF one-vs-rest linear SVM (LibMultiLabel's default linear method)."""
    vectorizer = TfidfVectorizer()
    features = vectorizer.fit_transform(dataset.train.texts)
    model = OneVsRestClassifier(LinearSVC())
    model.fit(features, dataset.binarize(dataset.train.labels).toarray())
    scores = model.decision_function(vectorizer.transform(dataset.test.texts))
    truth = dataset.binarize(dataset.test.labels).toarray()
    return float(truth[np.arange(len(scores)), scores.argmax(axis=1)].mean())


def test_same_seed_same_corpus_other_seed_other_corpus():
    first, again = make_synthetic(seed=7, num_docs=200), load_dataset("synthetic", seed=7, num_docs=200)
    assert first.train.texts == again.train.texts and first.test.labels == again.test.labels
    assert first.label_names == again.label_names
    assert make_synthetic(seed=8, num_docs=200).train.texts != first.train.texts


def test_default_split_sizes_are_70_10_20():
    dataset = make_synthetic(num_docs=1000)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (700, 100, 200)


def test_texts_are_lowercase_syllable_pseudo_words_of_the_requested_length():
    dataset = make_synthetic(num_docs=100, doc_length=25)
    syllable = f"[{CONSONANTS}][{VOWELS}]"
    word = re.compile(f"^(?:{syllable}){{1,3}}$")
    for text in dataset.train.texts:
        words = text.split(" ")
        assert len(words) == 25
        assert all(word.match(w) for w in words)


def test_every_document_has_labels_from_label_names():
    dataset = make_synthetic(num_docs=300, num_labels=12, num_groups=3)
    assert len(dataset.label_names) == len(set(dataset.label_names)) == 12
    for doc in dataset.train.labels:
        assert doc and len(set(doc)) == len(doc) and set(doc) <= set(dataset.label_names)


def test_labels_of_one_group_co_occur_more_than_labels_of_different_groups():
    dataset = make_synthetic(num_docs=2000, num_labels=20, num_groups=5)
    matrix = dataset.binarize(dataset.train.labels).toarray()
    cooc = matrix.T @ matrix
    group = np.arange(20) * 5 // 20  # contiguous groups of 4 labels
    same = group[:, None] == group[None, :]
    off_diagonal = ~np.eye(20, dtype=bool)
    within = cooc[same & off_diagonal].mean()
    across = cooc[~same].mean()
    assert within > 5 * across


def test_normal_is_learnable_and_hard_is_not_separable():
    assert tfidf_precision_at_1(make_synthetic()) >= 0.8
    assert tfidf_precision_at_1(make_synthetic(difficulty="hard")) < 0.9


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"difficulty": "extreme"}, "difficulty must be one of"),
        ({"noise": 1.5}, "noise must be in"),
        ({"num_groups": 30}, "num_groups"),
        ({"num_docs": 0}, "num_docs must be at least 1"),
        ({"colour": "red"}, "synthetic does not take"),
        ({"val_fraction": 1.0}, "val_fraction must be between 0 and 1"),
    ],
)
def test_bad_parameters_raise_value_error_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic(**options)
