"""RunFolder: the files of one run folder, written once each, read back with errors that name the file."""

import json

import pytest

from uclaf_plugin.bench.run_folder import RunFolder


def test_a_run_folder_goes_from_started_to_interrupted_to_finished(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    assert not folder.is_finished and not folder.is_interrupted
    (folder.path / "config.json").write_text(
        json.dumps({"model": {"head": "lan"}})
    )  # TextClassifier.save's entry
    folder.start({"dataset": "aapd", "seed": 0}, "uclaf-bench run --dataset aapd --method uclaf")
    assert folder.config() == {
        "model": {"head": "lan"},
        "spec": {"dataset": "aapd", "seed": 0},
        "command": "uclaf-bench run --dataset aapd --method uclaf",
    }
    folder.checkpoint_file.write_bytes(b"state")
    assert folder.is_interrupted and not folder.is_finished
    folder.write_metrics({"test": {"P@1": 0.5}})
    assert folder.is_finished and not folder.is_interrupted  # the checkpoint of the interrupted run is gone
    assert folder.metrics() == {"test": {"P@1": 0.5}}


def test_labels_and_label_texts(tmp_path):
    folder = RunFolder(tmp_path)
    assert folder.label_count() is None and folder.label_texts() is None
    folder.write_labels(["c1", "c2"])
    folder.write_label_texts(["c1", "c2"], None)  # a dataset without readable texts writes none
    assert folder.label_count() == 2 and folder.label_texts() is None
    folder.write_label_texts(["c1", "c2"], ["fishing", "taxes"])
    assert folder.label_texts() == {"c1": "fishing", "c2": "taxes"}


def test_missing_and_damaged_files_are_named(tmp_path):
    folder = RunFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        folder.config()
    with pytest.raises(FileNotFoundError, match="metrics.json is missing"):
        folder.metrics()
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        folder.config()
