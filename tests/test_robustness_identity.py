"""Issue #17, kind 1: a reused or resumed run is the run it claims to be (same settings, same data)."""

import csv
import json
import os
import shutil

import pytest
from toy_corpus import write_toy
from typer.testing import CliRunner

from uclaf_plugin.cli import app

runner = CliRunner()
ROTATE = {"sports": "politics", "politics": "tech", "tech": "sports"}


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


def compare_linear(folder, root):
    """The command's output and the P@1 (%) of its table file."""
    code, message = invoke("compare", "-d", folder, "--methods", "linear", "--root", root, "-q")
    assert code == 0, message
    row = next(csv.DictReader((root / folder.name / "compare-linear.csv").open()))
    return message, f"{float(row['P@1']):.2f}"


def rotate_test_labels(folder):
    lines = (folder / "test.txt").read_text().splitlines()
    rotated = [
        " ".join(f"__label__{ROTATE[t[9:]]}" if t.startswith("__label__") else t for t in line.split())
        for line in lines
    ]
    (folder / "test.txt").write_text("\n".join(rotated) + "\n")


def test_compare_does_not_reuse_a_run_on_data_that_changed(tmp_path):
    data = write_toy(tmp_path / "toy")
    _, first = compare_linear(data, tmp_path / "runs")
    assert first == "100.00"
    rotate_test_labels(data)
    second, p1 = compare_linear(data, tmp_path / "runs")
    assert "reusing" not in second and "training linear" in second
    _, fresh = compare_linear(data, tmp_path / "fresh")
    # Before: the top label is right on all 20 test documents. After rotating every label, it is right only on
    # the 2 two-label documents whose top label is the rotation of the other one (checked by hand).
    assert p1 == fresh == "10.00"
    assert len(list((tmp_path / "runs" / "toy" / "linear").iterdir())) == 2  # both runs are kept
    third, again = compare_linear(data, tmp_path / "runs")
    assert "reusing" in third and again == fresh


def test_compare_reuses_a_run_whose_files_were_only_touched(tmp_path):
    data = write_toy(tmp_path / "toy")
    compare_linear(data, tmp_path / "runs")
    for file in data.iterdir():
        os.utime(file, (1e9, 1e9))
    assert "reusing" in compare_linear(data, tmp_path / "runs")[0]


def test_the_data_fingerprint_is_in_the_spec_and_covers_limit_train(tmp_path):
    data = write_toy(tmp_path / "toy")
    compare_linear(data, tmp_path / "runs")
    code, message = invoke(
        "compare", "-d", data, "--methods", "linear", "--limit-train", 30, "--root", tmp_path / "runs", "-q"
    )
    assert code == 0 and "reusing" not in message
    specs = [json.loads(path.read_text())["spec"] for path in (tmp_path / "runs").rglob("config.json")]
    fingerprints = {spec["limit_train"]: spec["data"] for spec in specs}
    assert fingerprints[None]["train_docs"] == 60 and fingerprints[30]["train_docs"] == 30
    assert fingerprints[None]["test_docs"] == 20 and fingerprints[None]["labels"] == 3
    assert fingerprints[None]["sha256"] != fingerprints[30]["sha256"]


def test_run_with_output_of_a_finished_run_on_other_data_is_refused(tmp_path):
    data = write_toy(tmp_path / "toy")
    assert invoke("run", "-d", data, "-m", "linear", "-o", tmp_path / "run", "-q")[0] == 0
    rotate_test_labels(data)
    code, message = invoke("run", "-d", data, "-m", "linear", "-o", tmp_path / "run", "-q")
    assert code == 2 and "holds a finished run that read other data" in message


def test_records_from_before_fingerprints_are_reused_for_registered_datasets_when_sizes_match(tmp_path):
    from uclaf_plugin.bench.spec import build_spec, with_data
    from uclaf_plugin.bench.store import finished_run

    legacy = build_spec("reuters", "linear")
    folder = tmp_path / "reuters" / "linear" / f"seed0-{legacy.key()}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"spec": legacy.to_dict()}))
    sizes = {"train_docs": 6993, "val_docs": 776, "test_docs": 3019, "labels": 90}
    (folder / "metrics.json").write_text(json.dumps({"test": {}, "data": {**sizes, "unseen_test_labels": 0}}))
    same_sizes = with_data(legacy, {"sha256": "0" * 64, **sizes})
    assert finished_run(same_sizes, tmp_path) == folder
    assert finished_run(with_data(legacy, {"sha256": "0" * 64, **sizes, "test_docs": 3000}), tmp_path) is None
    assert legacy.key() != same_sizes.key()


def test_predict_uses_the_model_that_config_json_names(tmp_path):
    data = write_toy(tmp_path / "toy")
    assert invoke("run", "-d", data, "-m", "linear", "-o", tmp_path / "linear", "-q")[0] == 0
    clean = invoke("predict", "--run", tmp_path / "linear", "--json", "goal team vote")
    stray = tmp_path / "stray"
    shutil.copytree(tmp_path / "linear", stray)
    (stray / "model.safetensors").write_bytes(b"not the model of this run")
    assert invoke("predict", "--run", stray, "--json", "goal team vote") == clean


@pytest.fixture(scope="module")
def neural_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("neural")
    data = write_toy(root / "toy")
    code, message = invoke(
        "run", "-d", data, "-m", "xmlcnn", "--epochs", 1, "--max-length", 16, "-o", root / "run", "-q"
    )
    assert code == 0, message
    return root / "run"


def test_predict_refuses_a_folder_whose_config_entries_disagree(neural_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(neural_run, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model"]["max_length"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    code, message = invoke("predict", "--run", folder, "a text")
    assert code == 2
    assert "its 'model' entry and the run's spec disagree on max_length" in message
