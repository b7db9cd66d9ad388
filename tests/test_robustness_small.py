"""Issue #17, kind 7: small inconsistencies between commands, file modes, the estimator's own messages."""

import os
import stat

import numpy as np
import pytest
from toy_corpus import write_toy
from typer.testing import CliRunner

from uclaf_plugin.cli import app
from uclaf_plugin.data import load_dataset
from uclaf_plugin.files import atomic_write, write_json
from uclaf_plugin.integrations.sklearn import check_targets

runner = CliRunner()


def _with_unseen_test_labels(tmp_path):
    """The toy corpus plus two test documents with the label ``finance`` and one with ``weather``."""
    folder = write_toy(tmp_path / "toy")
    with (folder / "test.txt").open("a") as handle:
        handle.write(
            "__label__finance __label__tech bank chip\n__label__finance bank loan\n__label__weather rain\n"
        )
    return folder


def test_unseen_test_labels_counts_distinct_labels_in_metrics_and_stats(tmp_path):
    folder = _with_unseen_test_labels(tmp_path)
    assert load_dataset(folder).stats()["unseen_test_labels"] == 2  # finance, weather
    result = runner.invoke(app, ["run", "-d", str(folder), "-m", "linear", "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    metrics = __import__("json").loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["unseen_test_labels"] == 2  # not the 3 documents' occurrences


def test_labels_per_document_counts_a_repeated_label_once(tmp_path):
    from uclaf_plugin.data import MultiLabelDataset, Split

    dataset = MultiLabelDataset.from_splits(
        "repeats", {"train": Split(["a b", "c d"], [["x", "x", "y"], ["y"]])}
    )
    assert dataset.stats()["labels_per_document"] == {"train": 1.5}  # (2 + 1) / 2


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        written = write_json(tmp_path / "config.json", {"a": 1})
        binary = atomic_write(tmp_path / "model.bin", lambda temp: open(temp, "wb").write(b"\0"))
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE(plain.stat().st_mode) == expected
    assert stat.S_IMODE(written.stat().st_mode) == expected
    assert stat.S_IMODE(binary.stat().st_mode) == expected


def test_run_folder_files_are_readable_by_the_group_under_umask_022(tmp_path):
    previous = os.umask(0o022)
    try:
        result = runner.invoke(
            app,
            [
                "run",
                "-d",
                str(write_toy(tmp_path / "toy")),
                "-m",
                "linear",
                "-o",
                str(tmp_path / "run"),
                "-q",
            ],
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    for name in ("config.json", "metrics.json", "labels.json", "linear_baseline.joblib"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name


def test_ragged_index_lists_as_y_get_the_estimators_message():
    with pytest.raises(
        ValueError, match=r"y must be an \(n_samples, n_labels\) binary indicator matrix.*MultiLabelBinarizer"
    ):
        check_targets([[0, 2], [1]], 2)
    with pytest.raises(ValueError, match=r"binary indicator matrix of numbers.*MultiLabelBinarizer"):
        check_targets(np.array([[0, 2], [1]], dtype=object), 2)
