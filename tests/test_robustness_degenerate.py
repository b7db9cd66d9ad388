"""Issue #17, kind 3: degenerate data gets a clear, early error that names the split; empty inputs give (0, L)."""

import numpy as np
import pytest
import scipy.sparse as sp
from toy_corpus import write_toy
from typer.testing import CliRunner

from uclaf_plugin.cli import app
from uclaf_plugin.integrations.sklearn import UCLAFClassifier

runner = CliRunner()


def _run_linear(folder, tmp_path, *extra):
    result = runner.invoke(
        app, ["run", "-d", str(folder), "-m", "linear", "-o", str(tmp_path / "run"), "-q", *extra]
    )
    return result.exit_code, " ".join(result.output.split())


def _drop_labels(path):
    """TSV lines ``<TAB>text``: the documents keep their text, lose every label."""
    path.write_text("".join("\t" + line.split("\t", 1)[1] + "\n" for line in path.read_text().splitlines()))


def test_a_train_split_without_any_label_is_refused_naming_the_split(tmp_path):
    folder = write_toy(tmp_path / "toytsv", "tsv")
    _drop_labels(folder / "train.tsv")
    code, message = _run_linear(folder, tmp_path)
    assert code == 2
    assert "none of the 60 documents of the train split has a label" in message
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_neural_run_on_unlabelled_train_data_stops_before_training(tmp_path):
    folder = write_toy(tmp_path / "toytsv", "tsv")
    _drop_labels(folder / "train.tsv")
    result = runner.invoke(
        app,
        ["run", "-d", str(folder), "-m", "xmlcnn", "--epochs", "1", "-o", str(tmp_path / "run"), "-q"],
    )
    assert result.exit_code == 2 and "documents of the train split has a label" in " ".join(
        result.output.split()
    )
    assert not (tmp_path / "run").exists()


def test_an_unlabelled_test_split_is_refused_naming_it(tmp_path):
    folder = write_toy(tmp_path / "toytsv", "tsv")
    _drop_labels(folder / "test.tsv")
    code, message = _run_linear(folder, tmp_path)
    assert code == 2 and "none of the 20 documents of the test split has a label" in message


def test_training_on_val_names_the_split_it_trains_on(tmp_path):
    folder = write_toy(tmp_path / "toytsv", "tsv")
    _drop_labels(folder / "val.tsv")
    code, message = _run_linear(folder, tmp_path, "--train-split", "val")
    assert code == 2 and "documents of the val split (train) has a label" in message


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_an_empty_split_file_names_the_file(tmp_path, split):
    folder = write_toy(tmp_path / "toy")
    (folder / f"{split}.txt").write_text("\n\n")
    code, message = _run_linear(folder, tmp_path)
    assert code == 2 and f"{split}.txt: no documents (the file is empty or blank)" in message
    assert "num_docs" not in message


def test_a_file_whose_every_line_is_malformed_is_not_an_empty_split(tmp_path):
    from uclaf_plugin.data.generic import read_generic

    path = tmp_path / "bad.tsv"
    path.write_text("one column\nanother one\n")
    with pytest.raises(ValueError, match=r"bad\.tsv: no documents \(all 2 lines are malformed\)"):
        read_generic(path, strict=False)


TINY = dict(
    encoder="xmlcnn",
    init_embeddings=False,
    encoder_kwargs={"embedding_dim": 16, "num_filters": 8},
    head_kwargs={"attention_dim": 8},
    queue_size=16,
    epochs=1,
    batch_size=4,
    device="cpu",
)


@pytest.fixture(scope="module")
def fitted():
    texts = ["goal team match", "vote party law", "chip code data", "goal vote", "code team", "law chip"]
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]])
    return UCLAFClassifier(**TINY).fit(texts, targets)


def test_estimator_on_no_documents_returns_zero_rows(fitted):
    assert fitted.predict_proba([]).shape == (0, 3)
    assert fitted.decision_function([]).shape == (0, 3)
    predicted = fitted.predict([])
    assert sp.issparse(predicted) and predicted.shape == (0, 3)


def test_text_classifier_on_no_documents_returns_zero_rows(fitted):
    classifier = fitted.classifier_
    scores = classifier.scores([])
    assert scores.shape == (0, 3) and scores.dtype == np.float32
    assert classifier.predict([]) == []
    assert classifier.tokenize([]) == []


def test_estimator_refuses_targets_without_any_positive():
    with pytest.raises(ValueError, match=r"y has no positive label \(every row is all zeros\)"):
        UCLAFClassifier(**TINY).fit(["a b", "c d"], np.zeros((2, 3)))
