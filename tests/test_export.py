"""ONNX export: ONNX Runtime's scores equal PyTorch's on real documents, and the folder serves without the package."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from uclaf_plugin.cli import app  # noqa: E402
from uclaf_plugin.data import load_dataset  # noqa: E402
from uclaf_plugin.onnx_serve import OnnxClassifier  # noqa: E402
from uclaf_plugin.predict import RunPredictor  # noqa: E402

TINY = [
    "--dataset",
    "goemotions-sample",
    "--epochs",
    "1",
    "--limit-train",
    "48",
    "--max-length",
    "48",
    "--quiet",
]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def real_texts():
    """60 GoEmotions test comments and 4 long documents (glued comments) that the tokenizer must truncate."""
    texts = load_dataset("goemotions-sample").split("test").texts
    return texts[:60] + [" ".join(texts[i : i + 12]) for i in range(100, 148, 12)]


MODELS = {
    "bert": ["--method", "bert"],
    "uclaf": ["--method", "uclaf"],
    "uclaf-per_label_v": ["--method", "uclaf", "--lan-scoring", "per_label_v"],
    "uclaf-multiplicative-shortlist": [
        "--method",
        "uclaf",
        "--lan-scoring",
        "multiplicative",
        "--shortlist-size",
        "8",
    ],
    "uclaf-std-proposal-shortlist": ["--method", "uclaf-std-proposal", "--shortlist-size", "8"],
}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / request.param
    result = invoke("run", *MODELS[request.param], *TINY, "--output", folder / "run")
    assert result.exit_code == 0, result.output
    result = invoke("export", "--run", folder / "run", "--format", "onnx", "--output", folder / "onnx")
    assert result.exit_code == 0, result.output
    return folder / "run", folder / "onnx"


def test_onnx_runtime_scores_equal_pytorch_scores(exported, real_texts):
    run_dir, onnx_dir = exported
    reference = RunPredictor(run_dir, sort_by_length=False).scores(real_texts)
    served = OnnxClassifier(onnx_dir).scores(real_texts, batch_size=16)
    assert served.shape == reference.shape == (len(real_texts), 28)
    np.testing.assert_allclose(served, reference, atol=1e-4, rtol=0)
    assert reference.std() > 1e-3  # the scores differ between documents and labels: a real comparison


def test_label_sets_use_the_runs_tuned_thresholds(exported, real_texts):
    run_dir, onnx_dir = exported
    config = json.loads((onnx_dir / "export.json").read_text())
    tuned = json.loads((run_dir / "thresholds.json").read_text())
    assert config["thresholds"]["per_label"] == tuned["per_label"]
    assert config["labels"] == json.loads((run_dir / "labels.json").read_text())
    served = OnnxClassifier(onnx_dir)
    scores = served.scores(real_texts)
    thresholds = np.asarray(tuned["per_label"])
    clear = np.abs(scores - thresholds).min(axis=1) > 1e-4  # documents with no score at a threshold
    for record, expected in zip(
        np.array(served.predict(real_texts), dtype=object)[clear],
        np.array(RunPredictor(run_dir).predict(real_texts), dtype=object)[clear],
        strict=True,
    ):
        assert record["labels"] == expected["labels"]


def test_export_folder_serves_without_torch_or_this_package(exported, real_texts, tmp_path):
    _, onnx_dir = exported
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(real_texts[:5]) + "\n")
    check = (
        "import runpy, sys; sys.argv = ['serve.py', '--input', sys.argv[1]]; "
        "runpy.run_path('serve.py', run_name='__main__'); "
        "leaked = [m for m in sys.modules if m.split('.')[0] in ('torch', 'uclaf_plugin', 'transformers')]; "
        "assert not leaked, leaked"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", check, str(docs)],
        cwd=onnx_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    expected = OnnxClassifier(onnx_dir).predict(real_texts[:5])
    assert [r["labels"] for r in records] == [e["labels"] for e in expected]
    assert all(len(r["scores"]) == 5 for r in records)


def test_linear_runs_cannot_be_exported(tmp_path):
    folder = tmp_path / "linear"
    assert invoke("run", "--method", "linear", *TINY, "--output", folder).exit_code == 0
    result = runner.invoke(app, ["export", "--run", str(folder), "--format", "onnx"])
    assert result.exit_code == 2 and "needs a neural run" in result.output
