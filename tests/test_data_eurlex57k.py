"""EURLEX57K loader: zones, descriptors, the parse cache, malformed lines, and the real release's sizes."""

import json
import lzma

import numpy as np
import pytest

from uclaf_plugin.data import load_dataset
from uclaf_plugin.metrics import label_groups

ACT = {
    "celex_id": "31958D1127(01)",
    "type": "Decision",
    "concepts": ["2457", "4274"],
    "title": "Rules of the Committee",
    "header": "THE COUNCIL",
    "recitals": "Having regard to Article 83",
    "main_body": ["Article one, é.", "Article two."],
}
CONCEPTS = {
    "2457": {"concept_id": "2457", "label": "common transport policy", "alt_labels": [], "parents": ["4274"]},
    "4274": {"concept_id": "4274", "label": "legal status", "alt_labels": [], "parents": []},
}


def write_jsonl_xz(path, records, extra_lines=()):
    lines = [json.dumps(record) for record in records] + list(extra_lines)
    with lzma.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A three-act EURLEX57K folder and an empty cache folder."""
    folder = tmp_path / "data" / "eurlex57k"
    folder.mkdir(parents=True)
    other = {**ACT, "concepts": ["4274"], "recitals": ""}
    write_jsonl_xz(folder / "train.jsonl.xz", [ACT, other, {**other, "title": "Third"}])
    write_jsonl_xz(folder / "dev.jsonl.xz", [ACT])
    write_jsonl_xz(folder / "test.jsonl.xz", [{**ACT, "concepts": ["9999", "2457"]}])
    (folder / "EURLEX57K.json").write_text(json.dumps(CONCEPTS))
    monkeypatch.setenv("UCLAF_CACHE", str(tmp_path / "cache"))
    return folder


def test_default_text_is_header_recitals_main_body_and_labels_are_concept_ids(release):
    dataset = load_dataset("eurlex57k", release.parent)
    assert dataset.train.texts[0] == "THE COUNCIL\nHaving regard to Article 83\nArticle one, é.\nArticle two."
    assert (
        dataset.train.texts[1] == "THE COUNCIL\nArticle one, é.\nArticle two."
    )  # the empty zone adds no line
    assert dataset.train.labels == [["2457", "4274"], ["4274"], ["4274"]]
    assert dataset.label_names == ["2457", "4274", "9999"]  # train labels first, then the test-only one
    assert dataset.unseen_test_labels() == ["9999"]


def test_zones_follow_document_order_whatever_order_they_are_given_in(release):
    dataset = load_dataset("eurlex57k", release.parent, zones="recitals, title")
    assert dataset.val.texts == ["Rules of the Committee\nHaving regard to Article 83"]
    assert load_dataset("eurlex57k", release.parent, zones=["title"]).test.texts == ["Rules of the Committee"]
    with pytest.raises(ValueError, match="'abstract'.*choose among title, header, recitals, main_body"):
        load_dataset("eurlex57k", release.parent, zones="title,abstract")


def test_descriptors_parents_and_label_descriptions(release):
    dataset = load_dataset("eurlex57k", release.parent)
    assert dataset.descriptors["2457"] == "common transport policy"
    assert dataset.parents["2457"] == ["4274"] and dataset.parents["4274"] == []
    # a concept missing from the descriptor file keeps its id
    assert dataset.label_descriptions() == ["common transport policy", "legal status", "9999"]


def all_splits(dataset):
    return {split: dataset.split(split) for split in ("train", "val", "test")}


def test_cache_is_written_once_and_gives_the_parsed_result(release, tmp_path):
    parsed = all_splits(load_dataset("eurlex57k", release.parent, cache=False))
    assert not (tmp_path / "cache").exists()
    first = all_splits(load_dataset("eurlex57k", release.parent))
    cached_files = sorted((tmp_path / "cache" / "eurlex57k").glob("*.npz"))
    assert [path.name.split("-")[0] for path in cached_files] == ["dev", "test", "train"]
    stamps = [path.stat().st_mtime_ns for path in cached_files]
    second = all_splits(load_dataset("eurlex57k", release.parent, zones="title,header,recitals,main_body"))
    assert [path.stat().st_mtime_ns for path in cached_files] == stamps  # read, not rewritten
    for split in ("train", "val", "test"):
        assert first[split].texts == parsed[split].texts
        assert first[split].labels == parsed[split].labels
    assert second["train"].texts[0].startswith("Rules of the Committee\nTHE COUNCIL")


def test_changed_source_file_gets_a_new_cache_entry(release, tmp_path):
    assert load_dataset("eurlex57k", release.parent).train.labels[1] == ["4274"]
    write_jsonl_xz(release / "train.jsonl.xz", [{**ACT, "concepts": ["2457"]}])
    assert load_dataset("eurlex57k", release.parent).train.labels == [["2457"]]
    assert len(list((tmp_path / "cache" / "eurlex57k").glob("train-*.npz"))) == 2


def test_malformed_lines_name_file_and_line_or_are_skipped(release):
    write_jsonl_xz(release / "train.jsonl.xz", [ACT, {**ACT, "concepts": []}], extra_lines=["{not json"])
    with pytest.raises(ValueError, match=r"train\.jsonl\.xz:2: 'concepts' must be a non-empty list"):
        _ = load_dataset("eurlex57k", release.parent).train
    lenient = load_dataset("eurlex57k", release.parent, strict=False)
    assert len(lenient.train) == 1 and lenient.skipped["train"] == 2
    with pytest.raises(ValueError, match=r"train\.jsonl\.xz:2"):  # a cached lenient parse is not reused
        _ = load_dataset("eurlex57k", release.parent).train


@pytest.mark.data
@pytest.mark.slow
def test_real_release_sizes_labels_and_groups(shared_data):
    dataset = load_dataset("eurlex57k", shared_data)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (45000, 6000, 6000)
    assert len(dataset.label_names) == 4271
    assert len(dataset.unseen_test_labels()) == 85
    counts = np.asarray(dataset.binarize(dataset.train.labels).sum(axis=0)).ravel()
    assert (counts > 0).sum() == 4108
    assert np.mean([len(labels) for labels in dataset.train.labels]) == pytest.approx(5.07, abs=0.01)
    groups = label_groups(counts)
    assert sum(len(columns) for columns in groups.values()) == 4271
    assert all(counts[groups["few"]] <= 50) and all(counts[groups["frequent"]] > 50)
    assert dataset.label_descriptions()[dataset.label_names.index("3474")] == "international affairs"


def test_cli_zones_option_reaches_the_loader_and_metrics_have_label_groups(release, tmp_path):
    from typer.testing import CliRunner

    from uclaf_plugin.cli import app
    from uclaf_plugin.files import read_json

    folder = tmp_path / "run"
    args = [
        "run",
        "-d",
        "eurlex57k",
        "-m",
        "linear",
        "--zones",
        "title,recitals",
        "--data-dir",
        release.parent,
    ]
    result = CliRunner().invoke(app, [*map(str, args), "-o", str(folder), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert read_json(folder / "config.json")["spec"]["overrides"] == {"zones": "title,recitals"}
    test = read_json(folder / "metrics.json")["test"]
    # train counts: 2457 in 1 document (few-shot), 4274 in 3 (few-shot), 9999 in none (zero-shot)
    assert test["few/n_labels"] == 2 and test["zero/n_labels"] == 1 and "frequent/n_docs" not in test
    assert test["zero/n_docs"] == 1 and test["few/n_docs"] == 1  # the one test act holds 9999 and 2457
    bad = CliRunner().invoke(
        app, [*map(str, args[:5]), "--zones", "abstract", "--data-dir", str(release.parent)]
    )
    assert bad.exit_code != 0 and "choose among title" in bad.output


def test_predict_shows_concept_descriptors_beside_the_ids(release, tmp_path):
    from typer.testing import CliRunner

    from uclaf_plugin.cli import app

    folder = tmp_path / "run"
    args = ["run", "-d", "eurlex57k", "-m", "linear", "--data-dir", release.parent, "-o", folder, "-q"]
    assert CliRunner().invoke(app, list(map(str, args))).exit_code == 0
    result = CliRunner().invoke(app, ["predict", "--run", str(folder), "--json", "THE COUNCIL Article one"])
    record = json.loads(result.output)
    labels = list(record["scores"])  # the top-k labels; record["labels"] is the label set
    assert "2457 (common transport policy)" in labels and "4274 (legal status)" in labels
