"""Issue #17, kind 2: text files are read as the user meant, or refused with file:line."""

import json
import re

import pytest
from toy_corpus import LABELS, toy_documents, write_toy
from typer.testing import CliRunner

from uclaf_plugin.cli import app
from uclaf_plugin.data import load_dataset
from uclaf_plugin.data.generic import read_generic

EXPECTED = {split: toy_documents(split) for split in ("train", "val", "test")}


def _as_read(dataset, split):
    return [
        (sorted(labels), text)
        for labels, text in zip(dataset.split(split).labels, dataset.split(split).texts, strict=True)
    ]


def _expected(split):
    return [(sorted(labels), text) for labels, text in EXPECTED[split]]


@pytest.mark.parametrize("kind", ["fasttext", "tsv"])
@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_crlf_and_cr_files_read_like_lf_files(tmp_path, kind, newline):
    dataset = load_dataset(write_toy(tmp_path / "toy", kind, newline))
    for split in ("train", "val", "test"):
        assert _as_read(dataset, split) == _expected(split)
    assert dataset.label_names == sorted(LABELS)


@pytest.mark.parametrize(("kind", "name"), [("fasttext", "train.txt"), ("tsv", "train.tsv")])
def test_a_utf8_byte_order_mark_is_not_part_of_the_first_label(tmp_path, kind, name):
    folder = write_toy(tmp_path / "toy", kind)
    (folder / name).write_bytes(b"\xef\xbb\xbf" + (folder / name).read_bytes())
    dataset = load_dataset(folder)
    assert dataset.label_names == ["politics", "sports", "tech"]
    assert _as_read(dataset, "train") == _expected("train")


def test_a_byte_order_mark_in_jsonl_is_dropped(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": "a b", "labels": ["x"]}).encode() + b"\n")
    assert read_generic(path, strict=True).labels == [["x"]]


def test_a_tab_inside_tsv_text_is_reported_with_file_and_line_not_read_as_labels(tmp_path):
    folder = write_toy(tmp_path / "toy", "tsv")
    lines = (folder / "train.tsv").read_text().splitlines()
    lines[4] = "sports politics\tthe match\tpostponed after the vote"
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        ValueError, match=r"train\.tsv:5: expected 2 tab-separated columns .*found 3.*TAB inside"
    ):
        _ = load_dataset(folder).train
    lenient = load_dataset(folder, strict=False)
    assert len(lenient.train) == 59 and lenient.skipped == {"train": 1}
    assert lenient.label_names == ["politics", "sports", "tech"]


def test_tsv_column_count_is_decided_once_per_file(tmp_path):
    three = tmp_path / "three.tsv"  # an id column on most lines: the one two-column line is the odd one
    three.write_text(
        "d1\tsports\tgoal team\nd2\ttech\tchip code\nsports politics\tvote match\nd4\ttech\tdata\n"
    )
    with pytest.raises(
        ValueError, match=r"three\.tsv:3: expected 3 tab-separated columns \(id, labels, text\)"
    ):
        read_generic(three, strict=True)
    split = read_generic(three, strict=False)
    assert split.labels == [["sports"], ["tech"], ["tech"]] and split.skipped == 1


def test_a_tsv_header_names_the_columns_and_is_not_a_document(tmp_path):
    path = tmp_path / "with_header.tsv"
    path.write_text("labels\ttext\nsports\tgoal\tteam\ntech\tchip code\n")
    with pytest.raises(ValueError, match=r"with_header\.tsv:2: expected 2 tab-separated columns"):
        read_generic(path, strict=True)
    path.write_text("id\tlabels\ttext\n1\tsports\tgoal team\n2\ttech politics\tchip vote\n")
    split = read_generic(path, strict=True)
    assert split.texts == ["goal team", "chip vote"] and split.labels == [["sports"], ["tech", "politics"]]


def test_fasttext_labels_may_stand_anywhere_and_the_first_line_may_have_none(tmp_path):
    folder = tmp_path / "ends"
    folder.mkdir()
    (folder / "train.txt").write_text(
        "goal team the of\n"  # no label, as fastText allows
        + "\n".join(
            f"{text} " + " ".join(f"__label__{label}" for label in labels)
            for labels, text in EXPECTED["train"]
        )
        + "\n"
    )
    split = read_generic(folder / "train.txt", strict=True)
    assert split.labels[0] == [] and split.texts[0] == "goal team the of"
    assert [
        (sorted(labels), text) for labels, text in zip(split.labels[1:], split.texts[1:], strict=True)
    ] == _expected("train")


def test_a_label_repeated_on_one_line_counts_once(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("__label__tech __label__tech chip code\n")
    assert read_generic(path, strict=True).labels == [["tech"]]


def test_format_that_cannot_be_told_points_to_the_cli_option_which_exists(tmp_path):
    folder = write_toy(tmp_path / "toy", "fasttext")
    for split in ("train", "val", "test"):  # fastText lines in files named .tsv: the extension misleads
        (folder / f"{split}.txt").rename(folder / f"{split}.tsv")
    runner = CliRunner()
    wrong = runner.invoke(app, ["data", "stats", str(folder)])
    message = " ".join(wrong.output.split())
    assert wrong.exit_code == 2 and "train.tsv:1: expected 2 tab-separated columns" in message
    assert "--format" in message
    right = runner.invoke(app, ["data", "stats", str(folder), "--format", "fasttext"])
    assert right.exit_code == 0, right.output
    assert re.search(r"num_labels\s*│\s*3 │", right.output), right.output
    unknown = tmp_path / "plain.txt"
    unknown.write_text("no labels or tabs here\n")
    with pytest.raises(
        ValueError, match=r"cannot tell the format of .*plain\.txt.*--format fasttext\|tsv\|jsonl"
    ):
        read_generic(unknown, strict=True)
    linear = runner.invoke(
        app,
        ["run", "-d", str(folder), "-m", "linear", "--format", "fasttext", "-o", str(tmp_path / "run"), "-q"],
    )
    assert linear.exit_code == 0, linear.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["spec"]["format"] == "fasttext" and "--format fasttext" in config["command"]
