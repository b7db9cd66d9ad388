import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(
    os.environ.get("UCLAF_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared_data():
    """The real datasets in ../shared/data; skips when they are not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA}; set UCLAF_DATA to the shared data folder")
    return SHARED_DATA


os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download in tests
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tokenizer():
    from uclaf_plugin.encoders.transformer import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def _minilm():
    from uclaf_plugin.encoders.transformer import TransformerEncoder

    return TransformerEncoder()


@pytest.fixture
def minilm(_minilm):
    """A fresh copy of the offline MiniLM encoder (loaded once per session)."""
    import copy

    return copy.deepcopy(_minilm)


@pytest.fixture(scope="session")
def easy_corpus():
    """A small, easy synthetic corpus (seeded)."""
    from uclaf_plugin.data import load_dataset

    return load_dataset(
        "synthetic", num_docs=600, num_labels=8, num_groups=2, doc_length=24, difficulty="easy", seed=0
    )


@pytest.fixture
def easy_uclaf_config():
    """LAN + CACL on the cheap XML-CNN encoder (started from MiniLM's word vectors): learns ``easy_corpus``."""
    from uclaf_plugin.pipeline import ModelConfig

    return ModelConfig(
        encoder="xmlcnn",
        head="lan",
        contrastive="per_label",
        max_length=32,
        temperature=0.5,
        queue_size=64,
        encoder_kwargs={"num_filters": 32},
        head_kwargs={"attention_dim": 64},
    )
