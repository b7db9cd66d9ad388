"""The uclaf-bench commands on the synthetic corpus, with settings that finish in seconds."""

import csv
import json

import pytest
from typer.testing import CliRunner

from uclaf_plugin.cli import app
from uclaf_plugin.pipeline import TextClassifier

FAST = ["--dataset", "synthetic", "--epochs", "1", "--limit-train", "96", "--max-length", "32", "--quiet"]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def lan_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "xmlcnn-lan"
    result = invoke("run", "--method", "xmlcnn+lan", *FAST, "--label-init", "names", "--output", folder)
    assert result.exit_code == 0, result.output
    return folder, result


def test_run_writes_a_complete_run_folder(lan_run):
    folder, result = lan_run
    for name in ("config.json", "metrics.json", "model.safetensors", "labels.json", "train_log.jsonl"):
        assert (folder / name).is_file(), name
    assert not (folder / "checkpoint.pt").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "micro-F1", "macro-F1"} <= set(metrics["test"])
    assert len(metrics["val_curve"]) == 1 and metrics["data"]["train_docs"] == 96
    for key in ("train_seconds", "docs_per_second", "peak_memory_mb", "device", "environment"):
        assert metrics[key] is not None, key
    assert f"{100 * metrics['test']['P@1']:.2f}" in result.output
    config = json.loads((folder / "config.json").read_text())
    assert config["spec"]["method"] == "xmlcnn+lan" and config["model"]["head"] == "lan"
    assert config["model"]["label_init"] == "names" and "--label-init names" in config["command"]
    assert config["command"].startswith("uclaf-bench run --dataset synthetic --method xmlcnn+lan")


def test_predict_prints_label_sets_and_top_k_as_json_lines(lan_run):
    folder, _ = lan_run
    texts = ["some words", "other words"]
    result = invoke("predict", "--run", folder, "--top-k", "2", "--json", *texts)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.strip().splitlines()]
    labels = json.loads((folder / "labels.json").read_text())
    tuned = json.loads((folder / "thresholds.json").read_text())
    scores = TextClassifier.load(folder).scores(texts)
    assert [r["text"] for r in records] == texts
    for record, row in zip(records, scores, strict=True):
        best_two = sorted(range(len(labels)), key=lambda j: -row[j])[:2]
        assert list(record["scores"]) == [labels[j] for j in best_two]
        assert list(record["scores"].values()) == pytest.approx([row[j] for j in best_two], abs=1e-6)
        above = {labels[j] for j in range(len(labels)) if row[j] >= tuned["per_label"][j]}
        assert set(record["labels"]) == above


def test_plots_are_written(lan_run, tmp_path):
    folder, _ = lan_run
    for kind in ("attention", "prototypes"):
        png = tmp_path / f"{kind}.png"
        result = invoke("plot", kind, "--run", folder, "--output", png)
        assert result.exit_code == 0, result.output
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size < 200_000


def test_linear_run_and_predict(tmp_path):
    folder = tmp_path / "linear"
    assert (
        invoke("run", "--method", "linear", "--dataset", "synthetic", "--output", folder, "-q").exit_code == 0
    )
    result = invoke("predict", "--run", folder, "a text")
    assert result.exit_code == 0 and "a text" in result.output


def test_compare_reuses_finished_runs_and_writes_tables(tmp_path):
    args = ["compare", *FAST, "--methods", "linear,xmlcnn", "--root", tmp_path]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "reusing" not in first.output
    second = invoke(*args)
    assert second.output.count("reusing") == 2
    csv_lines = (tmp_path / "synthetic" / "compare-linear-xmlcnn.csv").read_text().splitlines()
    assert csv_lines[0].startswith("method,seed,P@1") and len(csv_lines) == 3
    assert "| xmlcnn |" in (tmp_path / "synthetic" / "compare-linear-xmlcnn.md").read_text()


def test_ablate_and_sweep_and_report(tmp_path):
    ablation = invoke(
        "ablate", *FAST, "--encoder", "xmlcnn", "--positives", "any,per_label", "--root", tmp_path
    )
    assert ablation.exit_code == 0, ablation.output
    assert "per_label" in (tmp_path / "synthetic" / "ablation-positives.md").read_text()
    sweep = invoke(
        "sweep", *FAST, "--encoder", "xmlcnn", "--param", "lambda", "--values", "0.1,1", "--root", tmp_path
    )
    assert sweep.exit_code == 0, sweep.output
    assert (tmp_path / "synthetic" / "sweep-lambda.png").read_bytes()[:4] == b"\x89PNG"
    report = invoke("report", "--runs", tmp_path, "--csv", tmp_path / "all.csv")
    assert report.exit_code == 0 and report.output.count("(seed 0)") == 4
    rows = list(csv.DictReader((tmp_path / "all.csv").open()))
    assert len(rows) == 4 and list(rows[0])[:3] == ["method", "seed", "P@1"]
    assert sorted(row["method"] for row in rows) == [  # per_label is the preset's: its run is the plain one
        "uclaf [encoder=xmlcnn, lambda=0.1]",
        "uclaf [encoder=xmlcnn, lambda=1.0]",
        "uclaf [encoder=xmlcnn, positives=any]",
        "uclaf [encoder=xmlcnn]",
    ]


def test_two_worker_processes_write_one_result(tmp_path):
    folder = tmp_path / "ddp"
    result = invoke("run", "--method", "xmlcnn+cacl", *FAST, "--nproc", "2", "--output", folder)
    assert result.exit_code == 0, result.output
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["data"]["train_docs"] == 96


def test_data_commands():
    assert "reuters" in invoke("data", "list").output
    stats = invoke("data", "stats", "synthetic")
    assert stats.exit_code == 0 and "train" in stats.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--dataset", "nope", "--method", "uclaf"], "synthetic"),
        (["run", "--dataset", "synthetic", "--method", "nope"], "uclaf"),
        (["run", "--dataset", "synthetic", "--method", "xmlcnn", "--epochs", "0"], "--epochs"),
        (["run", "--dataset", "synthetic", "--method", "xmlcnn", "--temperature", "-1"], "--temperature"),
        (["sweep", "--dataset", "synthetic", "--param", "depth", "--values", "1"], "lambda"),
        (
            [
                "sweep",
                "--dataset",
                "synthetic",
                "--param",
                "temperature",
                "--values",
                "1",
                "--temperature",
                "3",
            ],
            "--values",
        ),
        (["compare", "--dataset", "synthetic", "--lan-scoring", "cosine"], "--lan-scoring"),
        (["predict", "--run", "/nonexistent", "text"], "/nonexistent"),
    ],
)
def test_bad_input_names_the_problem(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.parametrize(
    "command, without",
    [
        ("run", ()),
        ("compare", ("head", "contrastive")),
        ("sweep", ("head", "contrastive")),
        ("ablate", ("head", "contrastive", "positives", "augment")),
    ],
)
def test_every_run_setting_is_an_option_of_each_command_that_runs_models(command, without):
    """One declaration (``RUN_SETTINGS``) gives run, compare, ablate and sweep the same options, with one help text."""
    import typer

    from uclaf_plugin.cli_options import RUN_SETTINGS

    commands = typer.main.get_command(app).commands
    options = {param.name: param.help for param in commands[command].params}
    shared = {param.name: param.help for param in commands["run"].params if param.name in RUN_SETTINGS}
    assert set(shared) == set(RUN_SETTINGS)
    for name, help_text in shared.items():
        if (
            name in without
        ):  # absent, or the command's own option (ablate's lists of positives and augmentations)
            assert options.get(name) != help_text, name
        else:
            assert options[name] == help_text, name


def test_compare_gives_a_lan_option_to_the_methods_with_lan_only():
    from uclaf_plugin.bench.experiments import compare_specs
    from uclaf_plugin.bench.spec import build_spec

    specs = dict(compare_specs("aapd", ["bert", "uclaf"], {"lan_scoring": "per_label_v"}))
    assert specs["uclaf"].model["head_kwargs"]["scoring"] == "per_label_v"
    assert specs["bert"].key() == build_spec("aapd", "bert").key()


def test_resume_without_a_checkpoint_says_so(tmp_path):
    result = invoke("run", "--method", "xmlcnn", *FAST, "--output", tmp_path / "none", "--resume")
    assert result.exit_code != 0 and "nothing to resume" in result.output
