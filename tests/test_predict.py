"""Tuned thresholds in run folders, label sets from `predict`, and streaming batch prediction over files."""

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from uclaf_plugin.bench.runner import prepare_data
from uclaf_plugin.bench.spec import RunSpec
from uclaf_plugin.cli import app
from uclaf_plugin.metrics import evaluate
from uclaf_plugin.predict import RunPredictor, predict_stream, read_documents
from uclaf_plugin.thresholds import Thresholds, decision_f1

FAST = ["--dataset", "synthetic", "--epochs", "1", "--limit-train", "96", "--max-length", "32", "--quiet"]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module", params=["xmlcnn+lan", "linear"])
def run_folder(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / request.param
    result = invoke("run", "--method", request.param, *FAST, "--output", folder)
    assert result.exit_code == 0, result.output
    return folder


def run_data(folder):
    spec = RunSpec.from_dict(json.loads((folder / "config.json").read_text())["spec"])
    return prepare_data(spec)


def test_metrics_report_tuned_f1_beside_the_fixed_threshold(run_folder):
    metrics = json.loads((run_folder / "metrics.json").read_text())
    data = run_data(run_folder)
    predictor = RunPredictor(run_folder)
    test_scores = predictor.scores(data.test[0])
    tuned = Thresholds.load(run_folder, predictor.label_names)
    fixed = evaluate(test_scores, data.test[1], threshold=predictor.fixed_threshold)
    report = metrics["thresholds"]
    assert report["fixed"]["micro-F1"] == pytest.approx(fixed["micro-F1"], abs=1e-6)
    assert metrics["test"]["micro-F1"] == pytest.approx(fixed["micro-F1"], abs=1e-6)
    expected = decision_f1(test_scores >= tuned.per_label, data.test[1])
    assert metrics["test"]["micro-F1 (tuned)"] == pytest.approx(expected["micro-F1"], abs=1e-6)
    assert metrics["test"]["macro-F1 (tuned)"] == pytest.approx(expected["macro-F1"], abs=1e-6)
    validation = json.loads((run_folder / "thresholds.json").read_text())["validation"]
    val_scores = predictor.scores(data.val[0])
    at_fixed = decision_f1(val_scores >= predictor.fixed_threshold, data.val[1])["micro-F1"]
    assert validation["global"]["micro-F1"] >= at_fixed - 1e-9  # the search includes a threshold that good
    assert validation["per_label"]["micro-F1"] >= validation["global"]["micro-F1"] - 1e-9


def test_retuning_for_macro_f1_with_at_least_one_label(run_folder):
    result = invoke("thresholds", "--run", run_folder, "--objective", "macro-F1", "--at-least-one")
    assert result.exit_code == 0, result.output
    saved = json.loads((run_folder / "thresholds.json").read_text())
    assert saved["objective"] == "macro-F1" and saved["at_least_one"]
    records = RunPredictor(run_folder).predict(run_data(run_folder).test[0], top_k=3)
    assert all(len(record["labels"]) >= 1 for record in records)
    metrics = json.loads((run_folder / "metrics.json").read_text())
    assert metrics["thresholds"]["objective"] == "macro-F1"
    invoke("thresholds", "--run", run_folder)  # back to the defaults for the other tests


def test_streamed_predictions_keep_input_order_and_equal_one_big_batch(run_folder, tmp_path):
    texts = run_data(run_folder).test[0][:23]
    lines = [*texts[:10], "", *texts[10:]]  # a blank line is not a document
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "preds.jsonl"
    result = invoke(
        "predict", "--run", run_folder, "--input", source, "--output", output,
        "--batch-size", 4, "--window", 7, "--top-k", 3, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["line"] for r in records] == [*range(1, 11), *range(12, 25)]
    reference = RunPredictor(run_folder, sort_by_length=False, batch_size=64).predict(texts, top_k=3)
    for got, expected in zip(records, reference, strict=True):
        assert got["labels"] == expected["labels"]
        assert list(got["scores"]) == list(expected["scores"])
        assert list(got["scores"].values()) == pytest.approx(list(expected["scores"].values()), abs=1e-5)


def test_length_sorted_batches_give_the_scores_of_in_order_batches(run_folder):
    texts = run_data(run_folder).test[0][:40]
    sorted_scores = RunPredictor(run_folder, batch_size=8, sort_by_length=True).scores(texts)
    in_order = RunPredictor(run_folder, batch_size=8, sort_by_length=False).scores(texts)
    np.testing.assert_allclose(sorted_scores, in_order, atol=1e-5)


def test_streaming_reads_one_window_at_a_time(run_folder):
    endless = ({"line": i, "text": f"document number {i}"} for i in itertools.count(1))
    first = list(itertools.islice(predict_stream(RunPredictor(run_folder), endless, window=5), 3))
    assert [record["line"] for record in first] == [1, 2, 3]


def test_jsonl_input_keeps_ids_and_names_bad_lines(tmp_path):
    good = tmp_path / "docs.jsonl"
    good.write_text('{"id": "a1", "text": "first"}\n"second"\n\n')
    assert list(read_documents(good)) == [
        {"line": 1, "text": "first", "id": "a1"},
        {"line": 2, "text": "second"},
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected a JSON string or an object"):
        list(read_documents(bad))
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not valid JSON"):
        list(read_documents(bad))
