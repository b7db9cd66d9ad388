"""The typed checkpoint: one object, saved atomically, restored exactly; a file that does not fit is named."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from uclaf_plugin.train.checkpoint import Checkpoint, TrainProgress

# The keys of checkpoint.pt as the trainer has always written them (recorded and interrupted runs resume from it).
RECORDED_KEYS = {
    "model",
    "optimizer",
    "scheduler",
    "rng",
    "epoch",
    "step_in_epoch",
    "global_step",
    "history",
    "best_score",
    "best_epoch",
    "best_state",
    "train_seconds",
    "train_config",
}


def _live_objects(seed):
    torch.manual_seed(seed)
    model = nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))
    return model, optimizer, scheduler


def _trained_checkpoint():
    model, optimizer, scheduler = _live_objects(0)
    for _ in range(3):
        model(torch.randn(2, 4)).sum().backward()
        optimizer.step()
        scheduler.step()
    best = {k: v.clone() for k, v in model.state_dict().items()}
    progress = TrainProgress(
        epoch=1,
        step_in_epoch=2,
        global_step=7,
        history=[{"epoch": 1, "seconds": 1.5, "val": {"P@1": 0.5}}],
        best_score=0.5,
        best_epoch=1,
        best_state=best,
        train_seconds=3.25,
    )
    return Checkpoint.capture(progress, model, optimizer, scheduler, {"epochs": 2}), (
        model,
        optimizer,
        scheduler,
    )


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b)
    else:
        assert a == b


def test_round_trip_gives_back_every_field(tmp_path):
    checkpoint, _ = _trained_checkpoint()
    path = checkpoint.save(tmp_path / "checkpoint.pt")
    assert set(torch.load(path, weights_only=False)) == RECORDED_KEYS
    assert not list(tmp_path.glob("*.tmp"))
    loaded = Checkpoint.load(path)
    for name in ("model", "optimizer", "scheduler", "rng", "train_config"):
        _assert_same(getattr(loaded, name), getattr(checkpoint, name))
    for name in (
        "epoch",
        "step_in_epoch",
        "global_step",
        "history",
        "best_score",
        "best_epoch",
        "train_seconds",
    ):
        assert getattr(loaded.progress, name) == getattr(checkpoint.progress, name)
    _assert_same(loaded.progress.best_state, checkpoint.progress.best_state)


def test_restore_puts_back_the_weights_optimizer_schedule_and_random_state(tmp_path):
    checkpoint, (model, optimizer, scheduler) = _trained_checkpoint()
    checkpoint.save(tmp_path / "checkpoint.pt")
    draws = (random.random(), np.random.rand(), torch.rand(1))  # what the generators give after the capture
    fresh = _live_objects(seed=1)
    progress = Checkpoint.load(tmp_path / "checkpoint.pt").restore(*fresh)
    assert (random.random(), np.random.rand()) == draws[:2] and torch.equal(torch.rand(1), draws[2])
    assert progress.global_step == 7 and progress.best_epoch == 1
    _assert_same(fresh[0].state_dict(), model.state_dict())
    _assert_same(fresh[1].state_dict(), optimizer.state_dict())
    assert fresh[2].get_last_lr() == scheduler.get_last_lr()


@pytest.mark.parametrize(("change", "named"), [("drop", "best_epoch"), ("add", "ema_state")])
def test_a_missing_or_unknown_key_is_an_error_naming_the_file(tmp_path, change, named):
    checkpoint, _ = _trained_checkpoint()
    path = checkpoint.save(tmp_path / "run" / "checkpoint.pt")
    flat = torch.load(path, weights_only=False)
    if change == "drop":
        del flat[named]
    else:
        flat[named] = {}
    torch.save(flat, path)
    with pytest.raises(ValueError, match=rf"{path}.*'{named}'.*without --resume") as error:
        Checkpoint.load(path)
    assert "\n" not in str(error.value)


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=rf"{path}: cannot read the checkpoint"):
        Checkpoint.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*without --resume"):
        Checkpoint.load(tmp_path / "missing.pt")
