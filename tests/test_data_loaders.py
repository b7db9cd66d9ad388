"""Loaders on tiny hand-made fixture files in tests/data (layouts, label order, errors, strict=False)."""

from pathlib import Path

import numpy as np
import pytest

from uclaf_plugin.data import DATASETS, load_dataset

DATA = Path(__file__).parent / "data"
MALFORMED = DATA / "malformed"
GENERIC = DATA / "generic"


# --- AAPD -------------------------------------------------------------------------------------------
def test_aapd_partial_copy_serves_val_and_test_and_explains_missing_train():
    dataset = load_dataset("aapd", DATA)
    assert dataset.splits_available() == ["val", "test"]
    assert dataset.val.texts == [
        "we study channel capacity of fading channels",
        "learning sparse codes for images",
    ]
    assert dataset.val.labels == [["cs.IT", "math.IT"], ["cs.CV", "cs.LG"]]
    assert len(dataset.test) == 3
    with pytest.raises(FileNotFoundError, match=r"text_train.*partial.*--train-split val"):
        _ = dataset.train


def test_aapd_label_names_use_label_train_first_then_unseen_sorted():
    dataset = load_dataset("aapd", DATA)
    # label_train has cs.CV cs.IT cs.LG math.IT math.NT; val/test add cs.SD and quant-ph.
    assert dataset.label_names == ["cs.CV", "cs.IT", "cs.LG", "math.IT", "math.NT", "cs.SD", "quant-ph"]
    assert dataset.unseen_test_labels() == ["cs.SD", "quant-ph"]


def test_aapd_stats_use_label_train_without_the_texts():
    stats = load_dataset("aapd", DATA).stats()
    assert stats["documents"] == {"train": 4, "val": 2, "test": 3}
    assert stats["label_stats_split"] == "train"
    assert stats["labels_per_document"]["train"] == pytest.approx(6 / 4)
    assert stats["words_per_document"] == {
        "val": pytest.approx((7 + 5) / 2),
        "test": pytest.approx((5 + 4 + 4) / 3),
    }
    assert stats["label_frequencies"] == {
        "cs.CV": 1, "cs.IT": 1, "cs.LG": 2, "math.IT": 1, "math.NT": 1, "cs.SD": 0, "quant-ph": 0,
    }  # fmt: skip
    cooc = stats["cooccurrence"].toarray()
    names = load_dataset("aapd", DATA).label_names
    assert cooc[names.index("cs.CV"), names.index("cs.LG")] == 1
    assert cooc[names.index("cs.IT"), names.index("math.IT")] == 1
    assert np.array_equal(np.diag(cooc), [1, 1, 2, 1, 1, 0, 0])
    assert stats["unseen_test_labels"] == 2


def test_aapd_empty_text_line_is_reported_with_file_and_line_or_skipped():
    with pytest.raises(ValueError, match=r"text_test:2: empty text"):
        _ = load_dataset("aapd", MALFORMED).test
    lenient = load_dataset("aapd", MALFORMED, strict=False)
    assert lenient.test.texts == ["first abstract", "third abstract"]
    assert lenient.test.labels == [["cs.AI"], ["cs.CL"]]
    assert lenient.test.skipped == 1
    assert lenient.skipped == {"test": 1}


def test_aapd_misaligned_text_and_label_files_name_both():
    with pytest.raises(ValueError, match=r"text_train has 2 lines but .*label_train has 1"):
        _ = load_dataset("aapd", MALFORMED).train


# --- EURLex ------------------------------------------------------------------------------------------
def test_eurlex_carves_val_from_train_with_the_seed():
    dataset = load_dataset("eurlex", DATA, seed=3, val_fraction=0.2)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (8, 2, 3)
    all_train = [f"council regulation number {i} on fisheries" for i in range(10)]
    assert sorted(dataset.train.texts + dataset.val.texts) == sorted(all_train)
    assert load_dataset("eurlex", DATA, seed=3, val_fraction=0.2).val.texts == dataset.val.texts
    other_seeds = [load_dataset("eurlex", DATA, seed=s, val_fraction=0.2).val.texts for s in (4, 5, 6)]
    assert any(texts != dataset.val.texts for texts in other_seeds)


def test_eurlex_unseen_test_label_is_a_column_that_train_never_uses():
    dataset = load_dataset("eurlex", DATA)
    assert dataset.label_names == ["agri", "fish", "trade", "zebra"]
    assert dataset.unseen_test_labels() == ["zebra"]
    test_matrix = dataset.binarize(dataset.test.labels).toarray()
    assert test_matrix.tolist() == [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1]]
    assert dataset.binarize(dataset.train.labels).toarray()[:, 3].sum() == 0


# --- GoEmotions ----------------------------------------------------------------------------------------
def test_goemotions_reads_ids_as_names_and_keeps_literal_quotes():
    dataset = load_dataset("goemotions", DATA)
    assert dataset.label_names == ["admiration", "amusement", "anger", "neutral"]
    assert dataset.train.texts[:2] == ['I love "this" so much', 'haha "what']
    assert dataset.train.labels == [["admiration"], ["amusement", "admiration"], ["neutral"], ["anger"]]
    assert (len(dataset.val), len(dataset.test)) == (1, 2)
    assert dataset.binarize(dataset.test.labels).toarray().tolist() == [[0, 1, 0, 0], [0, 0, 1, 1]]


def test_goemotions_wrong_column_count_and_unknown_id_raise_or_are_skipped():
    with pytest.raises(ValueError, match=r"train\.tsv:2: expected 3 tab-separated columns"):
        _ = load_dataset("goemotions", MALFORMED).train
    lenient = load_dataset("goemotions", MALFORMED, strict=False)
    assert lenient.train.texts == ["fine text", "another fine"]
    assert lenient.train.skipped == 2


def test_goemotions_unknown_label_id_names_line(tmp_path):
    folder = tmp_path / "goemotions"
    folder.mkdir()
    (folder / "labels.txt").write_text("joy\nsadness\n")
    (folder / "train.tsv").write_text("fine\t1\tc1\nbad id\t0,2\tc2\nnot a number\tx\tc3\n")
    with pytest.raises(ValueError, match=r"train\.tsv:2: unknown label id '2' \(labels.txt has ids 0..1\)"):
        _ = load_dataset("goemotions", tmp_path).train
    assert load_dataset("goemotions", tmp_path, strict=False).train.labels == [["sadness"]]


# --- Reuters -------------------------------------------------------------------------------------------
def test_reuters_modapte_keeps_topics_in_both_splits_and_their_documents():
    dataset = load_dataset("reuters", DATA, val_fraction=0.2)
    # gold is only in train (document 3's single topic, so it goes), silver only in test (dropped from
    # document 5); NOT-USED, TOPICS="NO" and topic-less documents are out.
    assert dataset.label_names == ["cocoa", "grain", "wheat"]
    assert len(dataset.train) + len(dataset.val) == 5
    assert len(dataset.val) == 1
    assert dataset.test.labels == [["cocoa"], ["grain"], ["wheat"]]


def test_reuters_text_is_title_and_body_unescaped_or_stripped_text():
    dataset = load_dataset("reuters", DATA, val_fraction=0.2)
    texts = dataset.train.texts + dataset.val.texts
    assert "BAHIA COCOA REVIEW\nShowers continued <in> the cocoa zone.\n Reuter" in texts
    assert "WHEAT EXPORTS RISE\nExports of wheat & grain rose.\n Reuter" in texts
    brief = dataset.test.texts[1]
    assert brief.startswith("GRAIN SHIPMENTS DELAYED") and "CHICAGO, Feb 26" in brief
    assert "<" not in brief and "&#" not in brief and "\x03" not in brief


def test_reuters_missing_attribute_names_file_and_line():
    with pytest.raises(ValueError, match=r"reut2-000\.sgm:36: <REUTERS> has no LEWISSPLIT"):
        _ = load_dataset("reuters", MALFORMED).test
    lenient = load_dataset("reuters", MALFORMED, strict=False, val_fraction=0.2)
    assert lenient.train.skipped == 1
    assert lenient.test.labels == [["cocoa"], ["grain"], ["wheat"]]


# --- generic formats -----------------------------------------------------------------------------------
def test_fasttext_folder_finds_splits_by_name_and_ignores_other_files():
    dataset = load_dataset(GENERIC / "fasttext_folder")
    assert dataset.name == "fasttext_folder"
    assert dataset.train.texts[0] == "the match ended in a draw"
    assert dataset.train.labels[0] == ["sports", "news"]
    assert dataset.val.labels == [["sports"]]
    assert dataset.test.labels == [["tech"], ["news", "sports"]]
    assert dataset.label_names == ["news", "sports", "tech"]


def test_tsv_folder_accepts_an_id_column_and_carves_val_when_missing():
    dataset = load_dataset(GENERIC / "tsv_folder", val_fraction=0.2)
    assert (len(dataset.train), len(dataset.val)) == (4, 1)
    assert dataset.test.texts == ["an id column then labels then text", "the only document with label d"]
    assert dataset.test.labels == [["a"], ["d"]]
    assert dataset.label_names == ["a", "b", "c", "d"]


def test_single_jsonl_file_is_split_with_the_seed_into_three_parts():
    dataset = load_dataset(GENERIC / "docs.jsonl", seed=1, val_fraction=0.2, test_fraction=0.3)
    sizes = (len(dataset.train), len(dataset.val), len(dataset.test))
    assert sizes == (5, 2, 3)  # 10 records, the blank line is not a record
    together = sorted(dataset.train.texts + dataset.val.texts + dataset.test.texts)
    assert together == sorted(
        ["alpha beta gamma", "delta epsilon", "zeta eta", "theta iota", "kappa lambda"]
        + ["mu nu", "xi omicron", "pi rho", "sigma tau", "upsilon phi"]
    )
    again = load_dataset(GENERIC / "docs.jsonl", seed=1, val_fraction=0.2, test_fraction=0.3)
    assert again.test.texts == dataset.test.texts


@pytest.mark.parametrize(
    ("file", "message", "kept"),
    [
        ("bad.jsonl", r"bad\.jsonl:2: bad JSON", ["fine line", "another fine line"]),
        ("bad.tsv", r"bad\.tsv:2: expected 2 tab-separated columns", ["good line", "good line two"]),
        ("bad_fasttext.txt", r"bad_fasttext\.txt:2: empty text", ["good text", "more good text"]),
    ],
)
def test_malformed_generic_lines_raise_with_file_line_or_are_skipped(file, message, kept):
    with pytest.raises(ValueError, match=message):
        _ = load_dataset(GENERIC / file).train
    from uclaf_plugin.data.generic import read_generic

    split = read_generic(GENERIC / file, strict=False)
    assert split.texts == kept
    assert split.skipped == {"bad.jsonl": 3, "bad.tsv": 2, "bad_fasttext.txt": 1}[file]


def test_format_detection_and_override():
    from uclaf_plugin.data.generic import detect_format

    assert detect_format(GENERIC / "docs.jsonl") == "jsonl"
    assert detect_format(GENERIC / "fasttext_folder" / "train.txt") == "fasttext"
    assert detect_format(GENERIC / "bad.tsv") == "tsv"
    with pytest.raises(ValueError, match=r"cannot tell the format of .*unknown_format\.txt.*format="):
        _ = load_dataset(GENERIC / "unknown_format.txt").train
    forced = load_dataset(GENERIC / "bad.tsv", format="tsv", strict=False)
    assert forced.splits_available() == ["train", "val", "test"]


def test_folder_with_two_train_files_is_ambiguous():
    with pytest.raises(ValueError, match=r"several train files .*train\.txt.*train_extra\.txt"):
        load_dataset(GENERIC / "two_train")


# --- registry, data directory, binarize ----------------------------------------------------------------
def test_unknown_name_lists_the_valid_names():
    with pytest.raises(
        ValueError, match=r"unknown dataset 'nope'.*aapd.*eurlex.*goemotions.*reuters.*synthetic"
    ):
        load_dataset("nope")
    assert set(DATASETS) == {
        "aapd",
        "eurlex",
        "eurlex57k",
        "goemotions",
        "goemotions-sample",
        "reuters",
        "synthetic",
    }


def test_unknown_option_is_rejected_by_name():
    with pytest.raises(ValueError, match=r"does not take the options \['colour'\]"):
        load_dataset("aapd", DATA, colour="red")
    with pytest.raises(ValueError, match=r"colour"):
        load_dataset("synthetic", colour="red")


def test_data_directory_comes_from_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("UCLAF_DATA", str(DATA))
    assert load_dataset("goemotions").label_names[0] == "admiration"
    with pytest.raises(FileNotFoundError, match=r"no folder 'goemotions'.*UCLAF_DATA.*data fetch goemotions"):
        load_dataset("goemotions", tmp_path)


def test_data_directory_defaults_to_user_cache(monkeypatch, tmp_path):
    from uclaf_plugin.data import data_root

    monkeypatch.delenv("UCLAF_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_root() == tmp_path / ".cache" / "uclaf"


def test_missing_split_file_names_the_file(tmp_path):
    (tmp_path / "goemotions").mkdir()
    (tmp_path / "goemotions" / "labels.txt").write_text("a\nb\n")
    (tmp_path / "goemotions" / "train.tsv").write_text("text\t0\tid\n")
    dataset = load_dataset("goemotions", tmp_path)
    assert dataset.splits_available() == ["train"]
    with pytest.raises(FileNotFoundError, match=r"dev\.tsv"):
        _ = dataset.val


def test_dataset_from_splits_in_memory():
    from uclaf_plugin.data import MultiLabelDataset, Split

    dataset = MultiLabelDataset.from_splits(
        "mem", {"train": Split(["a b", "c"], [["y"], ["x", "y"]]), "test": Split(["d"], [["z"]])}
    )
    assert dataset.splits_available() == ["train", "test"]
    assert dataset.label_names == ["x", "y", "z"]
    assert dataset.binarize(dataset.train.labels).toarray().tolist() == [[0, 1, 0], [1, 1, 0]]
    with pytest.raises(FileNotFoundError, match="mem has no val split"):
        _ = dataset.val


def test_binarize_drops_and_counts_labels_outside_label_names():
    dataset = load_dataset("goemotions", DATA)
    matrix, unknown = dataset.binarize([["anger", "joy"], [], ["neutral", "neutral"]], return_unknown=True)
    assert matrix.shape == (3, 4)
    assert matrix.toarray().tolist() == [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert unknown.tolist() == [1, 0, 0]
