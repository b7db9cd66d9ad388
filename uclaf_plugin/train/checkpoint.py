"""A training checkpoint as one typed object, saved atomically and restored in one place.

:class:`TrainProgress` is where a run stands (epochs and steps done, history, best epoch); :class:`Checkpoint`
adds what an exact resume needs besides it: the model, optimizer and scheduler states and the random number
generators. On disk it is one flat dict (``torch.save``), with a key for each field, as checkpoints have always
been written; reading one with a missing or an unknown key is an error that names the file.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import atomic_write

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class TrainProgress:
    """Where a run stands.

    ``epoch``: epochs finished; ``step_in_epoch``: steps finished in the current one; ``global_step``: steps
    finished in all; ``history``: one record per finished epoch (``{"epoch", "seconds", "val"}``);
    ``best_score``, ``best_epoch``, ``best_state``: the monitored metric's best value, its epoch (1-based, 0 for
    none yet) and a CPU copy of the model's ``state_dict`` then; ``train_seconds``: training time of the sessions
    before this one (interrupted and resumed).
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: list = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int = 0
    best_state: dict | None = None
    train_seconds: float = 0.0


@dataclass
class Checkpoint:
    """Everything a resumed run starts from: ``progress`` plus the states of the model, optimizer, scheduler and
    random number generators (``rng``: Python, NumPy, torch and, where present, CUDA) and the run's
    ``train_config`` (for the record; a resume takes the settings it is given)."""

    progress: TrainProgress
    model: dict
    optimizer: dict
    scheduler: dict
    rng: dict
    train_config: dict

    @classmethod
    def capture(cls, progress: TrainProgress, model: nn.Module, optimizer, scheduler, train_config: dict):
        """The checkpoint of the run now: the live objects' states and the generators' states."""
        return cls(
            progress,
            model.state_dict(),
            optimizer.state_dict(),
            scheduler.state_dict(),
            rng_states(),
            train_config,
        )

    def restore(self, model: nn.Module, optimizer, scheduler) -> TrainProgress:
        """Load the states into ``model``, ``optimizer`` and ``scheduler``, reset the generators; returns progress."""
        model.load_state_dict(self.model)
        optimizer.load_state_dict(self.optimizer)
        scheduler.load_state_dict(self.scheduler)
        set_rng_states(self.rng)
        return self.progress

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint to ``path`` atomically (a reader never sees half a file)."""
        flat = {**_as_dict(self.progress), **{name: getattr(self, name) for name in _STATE_KEYS}}
        return atomic_write(path, lambda temp: torch.save(flat, temp))

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint written by :meth:`save`.

        Raises ``FileNotFoundError`` for no file and ``ValueError`` (naming ``path``) for a file that is not a
        checkpoint of this version: one with a missing or an unknown key, or that torch cannot read.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {path}; start the run without --resume")
        try:
            flat = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # torch raises several types for truncated or foreign files
            raise ValueError(
                f"{path}: cannot read the checkpoint ({error}); delete it and start the run without --resume"
            ) from None
        _check_keys(path, flat)
        progress = TrainProgress(**{name: flat[name] for name in _PROGRESS_KEYS})
        return cls(progress, **{name: flat[name] for name in _STATE_KEYS})


_PROGRESS_KEYS = tuple(f.name for f in fields(TrainProgress))
_STATE_KEYS = tuple(f.name for f in fields(Checkpoint) if f.name != "progress")


def _as_dict(progress: TrainProgress) -> dict:
    """The fields of ``progress`` (no deep copy, unlike ``dataclasses.asdict``: ``best_state`` holds tensors)."""
    return {name: getattr(progress, name) for name in _PROGRESS_KEYS}


def _check_keys(path: Path, flat) -> None:
    expected = {*_PROGRESS_KEYS, *_STATE_KEYS}
    if not isinstance(flat, dict):
        raise ValueError(f"{path} is not a training checkpoint; delete it and start the run without --resume")
    missing, unknown = sorted(expected - set(flat)), sorted(set(flat) - expected)
    if missing or unknown:
        raise ValueError(
            f"{path} does not fit this version's checkpoint (missing keys {missing}, unknown keys {unknown}): "
            "resume it with the version that wrote it, or delete it and start the run without --resume"
        )


def rng_states() -> dict:
    """The states of Python's, NumPy's, torch's and (where available) CUDA's random number generators."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Put back states from :func:`rng_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
