import json
import signal

import numpy as np
import pytest
import torch
from torch import nn

from uclaf_plugin.data.batches import EpochBatches
from uclaf_plugin.model import UCLAFOutput
from uclaf_plugin.pipeline import ModelConfig, TextClassifier
from uclaf_plugin.text_trainer import TextTrainer
from uclaf_plugin.train import (
    CHECKPOINT_FILE,
    LOG_FILE,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    seed_everything,
)

SMALL_XMLCNN = {"embedding_dim": 32, "num_filters": 16}
FAST = {"batch_size": 32, "lr": 3e-3, "head_lr": 3e-3, "quiet": True, "device": "cpu"}


def _splits(corpus):
    return [(list(s.texts), corpus.binarize(s.labels)) for s in (corpus.train, corpus.val, corpus.test)]


def _xmlcnn_classifier(corpus, seed=0, **overrides):
    seed_everything(seed)
    config = ModelConfig(
        encoder="xmlcnn",
        head="lan",
        contrastive="per_label",
        max_length=32,
        init_embeddings=False,
        encoder_kwargs=SMALL_XMLCNN,
        head_kwargs={"attention_dim": 32},
        queue_size=64,
        temperature=0.5,
        **overrides,
    )
    return TextClassifier.from_config(config, corpus.label_names)


def test_uclaf_learns_an_easy_corpus(easy_corpus, easy_uclaf_config):
    """LAN + CACL on the cheap XML-CNN encoder (started from MiniLM's word vectors) learns the easy corpus."""
    (train, val, test) = _splits(easy_corpus)
    seed_everything(0)
    classifier = TextClassifier.from_config(easy_uclaf_config, easy_corpus.label_names)
    trainer = TextTrainer(classifier, TrainConfig(epochs=6, **{**FAST, "lr": 1e-2, "head_lr": 1e-2}))
    trainer.fit(*train, *val)
    assert trainer.evaluate(*test)["P@1"] >= 0.9


def test_resume_after_ctrl_c_reaches_the_same_model(easy_corpus, tmp_path):
    (train, val, test) = _splits(easy_corpus)
    settings = TrainConfig(epochs=2, checkpoint_every=4, **FAST)

    uninterrupted = TextTrainer(_xmlcnn_classifier(easy_corpus), settings, tmp_path / "a")
    uninterrupted.fit(*train, *val)

    interrupted = TextTrainer(_xmlcnn_classifier(easy_corpus), settings, tmp_path / "b")
    real_step, calls = interrupted.trainer._train_step, []

    def step_then_ctrl_c(*args):
        calls.append(1)
        result = real_step(*args)
        if len(calls) == 18:  # mid-way through the second epoch, between two checkpoints
            signal.raise_signal(signal.SIGINT)
        return result

    interrupted.trainer._train_step = step_then_ctrl_c
    with pytest.raises(TrainingInterrupted) as stop:
        interrupted.fit(*train, *val)
    assert stop.value.checkpoint == tmp_path / "b" / CHECKPOINT_FILE and stop.value.checkpoint.is_file()

    resumed = TextTrainer(_xmlcnn_classifier(easy_corpus, seed=123), settings, tmp_path / "b")
    resumed.fit(*train, *val, resume=True)
    expected = uninterrupted.classifier.scores(test[0])
    assert np.array_equal(resumed.classifier.scores(test[0]), expected)
    assert resumed.evaluate(*test) == uninterrupted.evaluate(*test)


def test_checkpoints_and_log_are_written(easy_corpus, tmp_path):
    (train, val, _) = _splits(easy_corpus)
    trainer = TextTrainer(_xmlcnn_classifier(easy_corpus), TrainConfig(epochs=2, **FAST), tmp_path)
    summary = trainer.fit(*train, *val)
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)
    assert checkpoint["epoch"] == 2 and checkpoint["step_in_epoch"] == 0
    assert {"model", "optimizer", "scheduler", "rng"} <= set(checkpoint)
    assert not list(tmp_path.glob("*.tmp"))
    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    steps = [r for r in records if "step" in r]
    epochs = [r for r in records if "val" in r]
    assert len(steps) == checkpoint["global_step"] and [r["epoch"] for r in epochs] == [1, 2]
    assert [h["val"] for h in summary["history"]] == [r["val"] for r in epochs]
    assert (tmp_path / "model.safetensors").is_file()


def test_best_epoch_is_kept_and_early_stopping_stops(easy_corpus):
    (train, val, _) = _splits(easy_corpus)
    trainer = TextTrainer(
        _xmlcnn_classifier(easy_corpus), TrainConfig(epochs=6, patience=1, monitor="P@1", **FAST)
    )
    summary = trainer.fit(*train, *val)
    scores = [h["val"]["P@1"] for h in summary["history"]]
    assert summary["best_epoch"] == 1 + int(np.argmax(scores))
    assert len(scores) == 6 or len(scores) - summary["best_epoch"] == 1
    assert trainer.evaluate(*val)["P@1"] == pytest.approx(max(scores))


def test_learning_rate_warms_up_then_decays(easy_corpus):
    (train, _, _) = _splits(easy_corpus)
    trainer = Trainer(TrainConfig(epochs=2, warmup_ratio=0.25, **FAST))
    run = trainer._new_run(_xmlcnn_classifier(easy_corpus).model, steps_per_epoch=10)
    rates = []
    for _ in range(20):
        rates.append(run.scheduler.get_last_lr()[0])
        run.optimizer.step()
        run.scheduler.step()
    peak = int(np.argmax(rates))
    assert peak == 4 and rates[peak] == pytest.approx(FAST["lr"])
    assert all(a < b for a, b in zip(rates[:peak], rates[1 : peak + 1], strict=True))
    assert all(a > b for a, b in zip(rates[peak:-1], rates[peak + 1 :], strict=True))


@pytest.mark.parametrize(
    "field, value", [("epochs", 0), ("batch_size", 0), ("lr", -1.0), ("warmup_ratio", 1.0)]
)
def test_bad_settings_are_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_targets_of_the_wrong_shape_are_rejected(easy_corpus):
    (train, _, _) = _splits(easy_corpus)
    trainer = TextTrainer(_xmlcnn_classifier(easy_corpus), TrainConfig(epochs=1, **FAST))
    with pytest.raises(ValueError, match="train_targets"):
        trainer.fit(train[0][:-1], train[1])
    with pytest.raises(ValueError, match=r"val_targets has shape \(\d+, \d+\); expected"):
        trainer.fit(*train, train[0][:5], train[1][:4])  # before any training step
    graded = train[1].astype(float) * 0.5  # e.g. relevance scores instead of multi-hot labels
    with pytest.raises(ValueError, match=r"train_targets must be multi-hot \(only 0 and 1\); found \[0.5\]"):
        trainer.fit(train[0], graded)


def test_sigterm_also_leaves_a_resumable_checkpoint(easy_corpus, tmp_path):
    (train, val, _) = _splits(easy_corpus)
    trainer = TextTrainer(
        _xmlcnn_classifier(easy_corpus), TrainConfig(epochs=1, checkpoint_every=0, **FAST), tmp_path
    )
    real_step = trainer.trainer._train_step

    def step_then_sigterm(*args):
        result = real_step(*args)
        signal.raise_signal(signal.SIGTERM)
        return result

    trainer.trainer._train_step = step_then_sigterm
    with pytest.raises(TrainingInterrupted):
        trainer.fit(*train, *val)
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)
    assert (checkpoint["epoch"], checkpoint["step_in_epoch"], checkpoint["global_step"]) == (0, 1, 1)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


class _BagOfWords(nn.Module):
    """Any model the loop can train: ``forward(input_ids, attention_mask, labels)`` returns a ``UCLAFOutput``
    with the loss."""

    def __init__(self, vocab_size=12, num_labels=3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.out = nn.Linear(8, num_labels)

    def forward(self, input_ids, attention_mask, labels):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        logits = self.out(pooled)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
        return UCLAFOutput(logits, loss=loss, bce=loss.detach())


def _token_batches(seed=0, num_docs=40, batch_size=8):
    rng = np.random.default_rng(seed)
    ids = [rng.integers(1, 12, rng.integers(2, 9)).tolist() for _ in range(num_docs)]
    targets = np.stack([[1 in doc, 2 in doc, len(doc) > 5] for doc in ids]).astype(np.float32)
    return EpochBatches(ids, targets, pad_id=0, batch_size=batch_size, seed=seed), ids, targets


def test_the_loop_equals_a_hand_written_adamw_loop_over_the_same_batches():
    """Trainer.fit on tensor batches (no tokenizer, no pipeline) takes exactly the steps of a plain loop:
    AdamW (no decay on biases), linear decay without warmup, batches in the seeded order of each epoch."""
    batches, _, _ = _token_batches()
    config = TrainConfig(
        epochs=2, lr=0.05, head_lr=0.05, warmup_ratio=0.0, max_grad_norm=0, quiet=True, device="cpu"
    )
    torch.manual_seed(3)
    model = _BagOfWords()
    expected = _BagOfWords()
    expected.load_state_dict(model.state_dict())
    summary = Trainer(config).fit(model, batches)

    seed_everything(
        config.seed
    )  # what fit does first (dropout-free here, but the order is part of the contract)
    decay = [p for p in expected.parameters() if p.ndim >= 2]
    no_decay = [p for p in expected.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=0.05
    )
    total = 2 * len(batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (total - step) / (total + 1))
    for epoch in range(2):
        for batch in batches.epoch(epoch):
            optimizer.zero_grad()
            expected(batch.input_ids, batch.attention_mask, batch.labels).loss.backward()
            optimizer.step()
            scheduler.step()
    for name, value in expected.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0)
    assert summary["best_epoch"] == 2 and len(summary["history"]) == 2


def test_the_loop_keeps_the_epoch_that_validate_scores_best():
    batches, ids, targets = _token_batches(num_docs=24)
    calls = []

    def validate():  # a score that peaks at epoch 2, taken of the weights at the end of each epoch
        calls.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"P@1": [0.2, 0.9, 0.4][len(calls) - 1]}

    model = _BagOfWords()
    summary = Trainer(TrainConfig(epochs=3, batch_size=8, quiet=True, device="cpu")).fit(
        model, batches, validate
    )
    assert summary["best_epoch"] == 2 and [h["val"]["P@1"] for h in summary["history"]] == [0.2, 0.9, 0.4]
    for name, value in calls[1].items():
        assert torch.equal(model.state_dict()[name], value)


def test_resume_without_a_checkpoint_says_to_start_without_resume(tmp_path):
    batches, _, _ = _token_batches(num_docs=8)
    with pytest.raises(FileNotFoundError, match=f"no checkpoint at {tmp_path}.*without --resume"):
        Trainer(TrainConfig(epochs=1, quiet=True, device="cpu"), tmp_path).fit(
            _BagOfWords(), batches, resume=True
        )
