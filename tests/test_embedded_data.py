"""The embedded GoEmotions sample: shipped with its license, small, loadable, and equal to a re-created sample."""

import gzip

import pytest

from uclaf_plugin.data import DATASETS, load_dataset
from uclaf_plugin.data.embedded import SAMPLE_DIR, SAMPLE_SIZES, write_goemotions_sample
from uclaf_plugin.data.goemotions import FILES


def test_sample_loads_without_a_data_folder(tmp_path):
    data = load_dataset("goemotions-sample", data_dir=tmp_path)  # an empty data folder: nothing is read there
    assert "goemotions-sample" in DATASETS
    assert len(data.label_names) == 28 and data.label_names[-1] == "neutral"
    for split, size in SAMPLE_SIZES.items():
        part = data.split(split)
        assert len(part) == size and part.skipped == 0
        assert all(labels and set(labels) <= set(data.label_names) for labels in part.labels)


def test_sample_is_small_and_states_its_source_and_license():
    total = sum(path.stat().st_size for path in SAMPLE_DIR.iterdir())
    assert total < 1_000_000
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert "Demszky" in readme and "Apache License 2.0" in readme
    assert "Apache License" in (SAMPLE_DIR / "LICENSE").read_text()


def test_shipped_sample_equals_a_fresh_sample_of_the_release(shared_data, tmp_path):
    source = shared_data / "goemotions"
    if not (source / "train.tsv").is_file():
        pytest.skip("the full GoEmotions release is not in the shared data folder")
    write_goemotions_sample(source, tmp_path)
    for file in FILES.values():
        fresh = gzip.decompress((tmp_path / f"{file}.gz").read_bytes())
        assert fresh == gzip.decompress((SAMPLE_DIR / f"{file}.gz").read_bytes()), file
    full_test = (source / "test.tsv").read_text(encoding="utf-8").splitlines()
    shipped_test = gzip.decompress((SAMPLE_DIR / "test.tsv.gz").read_bytes()).decode().splitlines()
    assert set(shipped_test) <= set(full_test)
