"""The trainer's CPU speed options: length-grouped batches and whole-step bf16 autocast."""

import dataclasses

import numpy as np
import pytest
import torch

from uclaf_plugin.bench.spec import build_spec
from uclaf_plugin.data import batches as batches_module
from uclaf_plugin.data.batches import EpochBatches, length_grouped_batches
from uclaf_plugin.text_trainer import TextTrainer
from uclaf_plugin.train import TrainConfig
from uclaf_plugin.train import loop as train_module


def _grouped(seed, num_docs=230, batch_size=4):
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, num_docs)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(num_docs, generator=generator).numpy()
    return lengths, length_grouped_batches(order, lengths, batch_size, generator)


def _padding(batches, lengths):
    return sum(len(batch) * lengths[batch].max() - lengths[batch].sum() for batch in batches)


def test_grouped_batches_use_every_document_once_with_less_padding():
    lengths, batches = _grouped(seed=1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len(batch) == 4 for batch in batches[:-1]) or sum(len(b) < 4 for b in batches) == 1
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(1)).numpy()
    plain = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert _padding(batches, lengths) < 0.2 * _padding(plain, lengths)


def test_grouped_batches_are_seeded():
    _, first = _grouped(seed=3)
    _, again = _grouped(seed=3)
    _, other = _grouped(seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_grouped_batches_sort_within_a_group_only(monkeypatch):
    monkeypatch.setattr(batches_module, "GROUP_BATCHES", 2)  # groups of 8 documents
    lengths = np.arange(16)
    order = np.arange(16)[::-1].copy()  # group one: 15..8, group two: 7..0
    batches = length_grouped_batches(order, lengths, 4, torch.Generator().manual_seed(0))
    assert sorted(tuple(b) for b in batches) == [(3, 2, 1, 0), (7, 6, 5, 4), (11, 10, 9, 8), (15, 14, 13, 12)]


def test_epoch_batches_group_by_length_when_asked():
    ids = [
        [101] * int(n) for n in np.random.default_rng(0).integers(3, 200, 300)
    ]  # documents of varied length
    targets = np.zeros((len(ids), 3))
    grouped = EpochBatches(ids, targets, pad_id=0, batch_size=8, group_by_length=True)
    plain = EpochBatches(ids, targets, pad_id=0, batch_size=8)
    for batches in (grouped, plain):
        assert sorted(np.concatenate(batches.rows(0)).tolist()) == list(range(len(ids)))
    lengths = np.array([len(i) for i in ids])
    assert _padding(grouped.rows(0), lengths) < _padding(plain.rows(0), lengths)


@pytest.mark.parametrize(
    ("amp", "device", "native", "expected"),
    [
        (None, "cuda", False, torch.bfloat16),
        (False, "cuda", True, None),
        (None, "cpu", True, None),  # not a CPU default
        (True, "cpu", True, torch.bfloat16),
        (True, "cpu", False, None),  # emulated bf16 would be slower: the step stays fp32
    ],
)
def test_whole_step_autocast_on_cpu_only_when_asked_and_native(monkeypatch, amp, device, native, expected):
    monkeypatch.setattr(train_module, "native_cpu_bf16", lambda: native)
    assert train_module._autocast_dtype(amp, torch.device(device)) == expected


def test_new_training_settings_keep_recorded_run_hashes():
    """A version-1 spec (written before group_by_length existed) is the plain-batch experiment, not today's
    length-grouped default."""
    plain = build_spec("aapd", "uclaf", seed=0, overrides={"epochs": 5, "group_by_length": False})
    recorded = dataclasses.replace(
        plain, train={k: v for k, v in plain.train.items() if k != "group_by_length"}, spec_version=1
    )
    assert plain.key() == recorded.key()
    grouped = build_spec("aapd", "uclaf", seed=0, overrides={"epochs": 5})
    assert grouped.train["group_by_length"] is True and grouped.key() != plain.key()


@pytest.mark.skipif(not train_module.native_cpu_bf16(), reason="needs a CPU with native bf16")
def test_a_bf16_step_on_cpu_trains(easy_corpus):
    from uclaf_plugin.pipeline import ModelConfig, TextClassifier

    config = ModelConfig(
        encoder="xmlcnn",
        head="lan",
        max_length=24,
        init_embeddings=False,
        encoder_kwargs={"embedding_dim": 16, "num_filters": 8},
        head_kwargs={"attention_dim": 16},
        queue_size=32,
    )
    classifier = TextClassifier.from_config(config, easy_corpus.label_names)
    trainer = TextTrainer(
        classifier, TrainConfig(epochs=1, batch_size=16, amp=True, quiet=True, device="cpu")
    )
    assert trainer.trainer.amp_dtype == torch.bfloat16
    texts, targets = list(easy_corpus.train.texts[:64]), easy_corpus.binarize(easy_corpus.train.labels[:64])
    trainer.fit(texts, targets)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in classifier.model.parameters())
