"""Issue #17, kind 5: a broken run folder gets a one-line error that says what is wrong."""

import json
import shutil

import pytest
from toy_corpus import write_toy
from typer.testing import CliRunner

from uclaf_plugin.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")


def predict(folder):
    """Exit code and the output of ``predict`` on ``folder``, which must be one ``error:`` line."""
    result = runner.invoke(app, ["predict", "--run", str(folder), "goal team vote"])
    lines = result.output.strip().splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return result.exit_code, lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = write_toy(root / "toy")
    for method in ("xmlcnn", "linear"):
        args = ["run", "-d", str(data), "-m", method, "--epochs", "1", "--max-length", "16", "-q"]
        result = runner.invoke(app, [*args, "-o", str(root / method)])
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def neural(runs, tmp_path):
    return shutil.copytree(runs / "xmlcnn", tmp_path / "xmlcnn")


@pytest.fixture
def linear(runs, tmp_path):
    return shutil.copytree(runs / "linear", tmp_path / "linear")


def test_neural_folder_without_weights_names_the_weights(neural):
    (neural / "model.safetensors").unlink()
    code, message = predict(neural)
    assert code == 2
    assert f"{neural / 'model.safetensors'} not found: config.json names a neural run (xmlcnn)" in message
    assert "linear_baseline.joblib" not in message


def test_linear_folder_without_its_model_names_it(linear):
    (linear / "linear_baseline.joblib").unlink()
    code, message = predict(linear)
    assert (
        code == 2
        and f"{linear / 'linear_baseline.joblib'} not found: config.json names a linear run" in message
    )


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_weights_give_one_line(neural, damage):
    weights = neural / "model.safetensors"
    content = weights.read_bytes()
    weights.write_bytes(content[: len(content) // 2] if damage == "truncate" else b"\x07" * 64 + content[64:])
    code, message = predict(neural)
    assert code == 2
    assert f"{weights}: cannot read the weights (" in message and "truncated or corrupted" in message


def test_damaged_linear_model_gives_one_line(linear):
    model = linear / "linear_baseline.joblib"
    model.write_bytes(model.read_bytes()[:100])
    code, message = predict(linear)
    assert code == 2 and f"{model}: cannot read the linear model (" in message


@pytest.mark.parametrize("kind", ["xmlcnn", "linear"])
def test_labels_json_with_another_number_of_labels_is_refused(runs, tmp_path, kind):
    folder = shutil.copytree(runs / kind, tmp_path / kind)
    (folder / "labels.json").write_text(json.dumps(["politics", "sports", "tech", "weather"]))
    code, message = predict(folder)
    assert code == 2 and "come from different runs" in message
    expected = (
        "with the 4 labels of labels.json"
        if kind == "xmlcnn"
        else "labels.json has 4 labels but the linear model scores 3"
    )
    assert expected in message


def test_a_folder_without_config_json_is_not_a_run_folder(linear):
    (linear / "config.json").unlink()
    code, message = predict(linear)
    assert code == 2 and f"{linear / 'config.json'} not found" in message


def test_labels_json_that_is_not_json_names_file_and_line(neural):
    (neural / "labels.json").write_text('["politics",\n  sports]\n')
    code, message = predict(neural)
    assert code == 2 and f"{neural / 'labels.json'}:2: not valid JSON" in message
