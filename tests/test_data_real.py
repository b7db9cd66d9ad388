"""Loaders on the real datasets in ../shared/data (skipped when absent): published sizes and labels."""

import pytest

from uclaf_plugin.data import load_dataset

pytestmark = pytest.mark.data


def test_aapd_partial_copy(shared_data):
    dataset = load_dataset("aapd", shared_data)
    assert (len(dataset.val), len(dataset.test)) == (1000, 1000)
    assert len(dataset.label_names) == 54
    assert dataset.splits_available() == ["val", "test"]
    with pytest.raises(FileNotFoundError, match=r"text_train.*partial"):
        _ = dataset.train
    stats = dataset.stats()
    assert stats["documents"]["train"] == 53840
    assert stats["labels_per_document"]["train"] == pytest.approx(2.41, abs=0.01)
    assert stats["unseen_test_labels"] == 0


def test_reuters_modapte_90(shared_data):
    dataset = load_dataset("reuters", shared_data, val_fraction=0.1)
    assert abs(len(dataset.train) + len(dataset.val) - 7769) <= 1
    assert len(dataset.test) == 3019
    assert len(dataset.label_names) == 90
    assert dataset.unseen_test_labels() == []
    assert {"earn", "acq", "crude", "wheat"} <= set(dataset.label_names)
    first_test = dataset.test.texts[0]
    assert first_test.startswith("ASIAN EXPORTERS FEAR DAMAGE FROM U.S.-JAPAN RIFT")
    assert not any("&lt;" in text or "&amp;" in text for text in dataset.test.texts)


def test_goemotions(shared_data):
    dataset = load_dataset("goemotions", shared_data)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (43410, 5426, 5427)
    assert len(dataset.label_names) == 28 and dataset.label_names[-1] == "neutral"
    assert any('"' in text for text in dataset.train.texts)  # literal quotes survive


def test_pinned_reuters_checksums_match_the_distribution(shared_data):
    from uclaf_plugin.data.fetch import REUTERS_SGM_SHA256, verify_files

    assert len(REUTERS_SGM_SHA256) == 22
    verify_files(shared_data / "reuters21578", REUTERS_SGM_SHA256)
