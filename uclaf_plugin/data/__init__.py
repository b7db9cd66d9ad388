"""Datasets: ``load_dataset(name_or_path)`` -> `MultiLabelDataset`, the ``DATASETS`` registry, ``fetch``."""

from .base import MultiLabelDataset, Split, SplitSource
from .fetch import fetch
from .paths import data_root
from .registry import DATASETS, load_dataset
from .synthetic import SyntheticSpec, make_synthetic

__all__ = [
    "DATASETS",
    "MultiLabelDataset",
    "Split",
    "SplitSource",
    "SyntheticSpec",
    "data_root",
    "fetch",
    "load_dataset",
    "make_synthetic",
]
