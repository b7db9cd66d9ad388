"""Run records (docs/results/records/): what git keeps of a run in place of its folder."""

import json
from pathlib import Path

import pytest

from uclaf_plugin.bench.commands import report
from uclaf_plugin.bench.records import merge_records, read_records
from uclaf_plugin.bench.spec import build_spec
from uclaf_plugin.bench.store import collect_runs, default_run_dir
from uclaf_plugin.files import write_json

RESULTS = Path(__file__).parents[1] / "docs/results"


def _finished_run(root: Path, seed: int, p_at_1: float) -> Path:
    spec = build_spec("aapd", "uclaf", seed=seed, overrides={"epochs": 1})
    folder = default_run_dir(spec, root)
    write_json(folder / "config.json", {"spec": spec.to_dict(), "command": spec.command()})
    metrics = {
        "test": {"P@1": p_at_1},
        "val_curve": [{"epoch": 1, "val": {"P@1": p_at_1}}],
        "train_seconds": 3.0,
    }
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "labels.json", ["cs.AI", "cs.LG"])
    (folder / "train_log.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    return folder


def test_records_read_back_as_the_run_folders_do(tmp_path):
    runs = tmp_path / "runs"
    first = _finished_run(runs, 0, 0.5)
    _finished_run(runs, 1, 0.25)
    records = merge_records(runs / "aapd", tmp_path / "aapd.jsonl")
    assert [r["folder"] for r in records] == [first.relative_to(runs).as_posix(), records[1]["folder"]]
    assert records[0]["labels"] == 2 and "train_log" not in json.dumps(records)
    from_folders = collect_runs(runs / "aapd")
    from_records = collect_runs(tmp_path / "aapd.jsonl")
    assert [(r["spec"], r["command"], r["metrics"]) for r in from_records] == [
        (r["spec"], r["command"], r["metrics"]) for r in from_folders
    ]
    assert report(tmp_path / "aapd.jsonl") == report(runs / "aapd")


def test_collecting_again_keeps_runs_recorded_elsewhere_and_refreshes_local_ones(tmp_path):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    _finished_run(elsewhere, 0, 0.5)
    merge_records(elsewhere / "aapd", tmp_path / "aapd.jsonl")
    _finished_run(here, 1, 0.25)
    _finished_run(here, 0, 0.75)  # the same run (folder) as elsewhere's, finished again with another result
    records = merge_records(here / "aapd", tmp_path / "aapd.jsonl")
    assert [(r["spec"]["seed"], r["metrics"]["test"]["P@1"]) for r in records] == [(0, 0.75), (1, 0.25)]


def test_a_damaged_records_file_names_its_line(tmp_path):
    path = tmp_path / "aapd.jsonl"
    path.write_text(
        '{"folder": "a", "spec": {}, "command": null, "labels": 1, "metrics": {}}\n{"folder": "b"}\n'
    )
    with pytest.raises(ValueError, match=r"aapd.jsonl:2: record lacks spec"):
        read_records(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match=r"aapd.jsonl:1: not a JSON line"):
        read_records(path)


@pytest.mark.parametrize("csv_file", ["aapd.csv", "reuters.csv", "goemotions.csv", "gpu/aapd.csv"])
def test_the_committed_csv_is_the_committed_records(csv_file, tmp_path):
    records = RESULTS / Path(csv_file).parent / "records" / Path(csv_file).name.replace(".csv", ".jsonl")
    report(records, tmp_path / "rows.csv")
    assert (tmp_path / "rows.csv").read_text() == (RESULTS / csv_file).read_text()


def test_report_command_collects_records_and_writes_the_csv_from_them(tmp_path):
    from typer.testing import CliRunner

    from uclaf_plugin.cli import app

    runs = tmp_path / "runs"
    _finished_run(runs, 0, 0.5)
    records, rows = tmp_path / "records" / "aapd.jsonl", tmp_path / "aapd.csv"
    invoke = CliRunner().invoke
    collected = invoke(app, ["report", "--runs", str(runs / "aapd"), "--records", str(records)])
    assert collected.exit_code == 0, collected.output
    assert [r["folder"].split("/")[:2] for r in read_records(records)] == [["aapd", "uclaf"]]
    tabled = invoke(app, ["report", "--runs", str(records), "--csv", str(rows)])
    assert tabled.exit_code == 0, tabled.output
    assert "| 50.00 |" in tabled.output and rows.read_text().splitlines()[1].startswith("uclaf,0,50.0,")
