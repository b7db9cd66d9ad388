import json
import signal

import numpy as np
import pytest
import torch

from uclaf_plugin.pipeline import ModelConfig, TextClassifier
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
    trainer = Trainer(classifier, TrainConfig(epochs=6, **{**FAST, "lr": 1e-2, "head_lr": 1e-2}))
    trainer.fit(*train, *val)
    assert trainer.evaluate(*test)["P@1"] >= 0.9


def test_resume_after_ctrl_c_reaches_the_same_model(easy_corpus, tmp_path):
    (train, val, test) = _splits(easy_corpus)
    settings = TrainConfig(epochs=2, checkpoint_every=4, **FAST)

    uninterrupted = Trainer(_xmlcnn_classifier(easy_corpus), settings, tmp_path / "a")
    uninterrupted.fit(*train, *val)

    interrupted = Trainer(_xmlcnn_classifier(easy_corpus), settings, tmp_path / "b")
    real_step, calls = interrupted._train_step, []

    def step_then_ctrl_c(*args):
        calls.append(1)
        result = real_step(*args)
        if len(calls) == 18:  # mid-way through the second epoch, between two checkpoints
            signal.raise_signal(signal.SIGINT)
        return result

    interrupted._train_step = step_then_ctrl_c
    with pytest.raises(TrainingInterrupted) as stop:
        interrupted.fit(*train, *val)
    assert stop.value.checkpoint == tmp_path / "b" / CHECKPOINT_FILE and stop.value.checkpoint.is_file()

    resumed = Trainer(_xmlcnn_classifier(easy_corpus, seed=123), settings, tmp_path / "b")
    resumed.fit(*train, *val, resume=True)
    expected = uninterrupted.classifier.scores(test[0])
    assert np.array_equal(resumed.classifier.scores(test[0]), expected)
    assert resumed.evaluate(*test) == uninterrupted.evaluate(*test)


def test_checkpoints_and_log_are_written(easy_corpus, tmp_path):
    (train, val, _) = _splits(easy_corpus)
    trainer = Trainer(_xmlcnn_classifier(easy_corpus), TrainConfig(epochs=2, **FAST), tmp_path)
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
    trainer = Trainer(
        _xmlcnn_classifier(easy_corpus), TrainConfig(epochs=6, patience=1, monitor="P@1", **FAST)
    )
    summary = trainer.fit(*train, *val)
    scores = [h["val"]["P@1"] for h in summary["history"]]
    assert summary["best_epoch"] == 1 + int(np.argmax(scores))
    assert len(scores) == 6 or len(scores) - summary["best_epoch"] == 1
    assert trainer.evaluate(*val)["P@1"] == pytest.approx(max(scores))


def test_learning_rate_warms_up_then_decays(easy_corpus):
    (train, _, _) = _splits(easy_corpus)
    trainer = Trainer(_xmlcnn_classifier(easy_corpus), TrainConfig(epochs=2, warmup_ratio=0.25, **FAST))
    state = trainer._new_state(steps_per_epoch=10)
    rates = []
    for _ in range(20):
        rates.append(state["scheduler"].get_last_lr()[0])
        state["optimizer"].step()
        state["scheduler"].step()
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
    trainer = Trainer(_xmlcnn_classifier(easy_corpus), TrainConfig(epochs=1, **FAST))
    with pytest.raises(ValueError, match="train_targets"):
        trainer.fit(train[0][:-1], train[1])


def test_sigterm_also_leaves_a_resumable_checkpoint(easy_corpus, tmp_path):
    (train, val, _) = _splits(easy_corpus)
    trainer = Trainer(
        _xmlcnn_classifier(easy_corpus), TrainConfig(epochs=1, checkpoint_every=0, **FAST), tmp_path
    )
    real_step = trainer._train_step

    def step_then_sigterm(*args):
        result = real_step(*args)
        signal.raise_signal(signal.SIGTERM)
        return result

    trainer._train_step = step_then_sigterm
    with pytest.raises(TrainingInterrupted):
        trainer.fit(*train, *val)
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)
    assert (checkpoint["epoch"], checkpoint["step_in_epoch"], checkpoint["global_step"]) == (0, 1, 1)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
