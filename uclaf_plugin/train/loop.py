"""Trainer: AdamW with warmup and linear decay, validation with early stopping, atomic checkpoints, exact resume.

``Trainer(config, output_dir).fit(model, batches, validate=..., save_model=...)`` holds the loop only. It takes
tensor batches (:class:`~uclaf_plugin.data.batches.EpochBatches`; tokenising and padding happen on the data side) and
does, per step: ``model(input_ids, attention_mask, labels=labels)`` (a model returning a
:class:`~uclaf_plugin.model.UCLAFOutput`, or any output with ``loss`` and ``losses()``, which takes its own
momentum step, :class:`~uclaf_plugin.contrastive.MomentumContrast`) -> ``loss.backward()`` -> clip
-> optimizer and scheduler step. Under ``torch.distributed`` (:mod:`uclaf_plugin.distributed`) the model is
wrapped in DistributedDataParallel, every rank reads its own shard of each epoch, and only rank 0 writes. To fit
a :class:`~uclaf_plugin.pipeline.TextClassifier` on texts, use :class:`~uclaf_plugin.text_trainer.TextTrainer`.
"""

from __future__ import annotations

import json
import random
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..constraints import Interval, check_settings
from ..contrastive import native_cpu_bf16
from ..data.batches import EpochBatches
from .checkpoint import CHECKPOINT_FILE, Checkpoint, TrainProgress
from .distributed import (
    TrainingInterrupted,
    device_for_rank,
    rank_and_world_size,
    share_cores_between_ranks,
    stop_agreed,
    wrap_for_ranks,
)
from .progress_bar import ProgressBar

# Training settings added after runs were recorded, with the value those runs had (bench.spec.upgraded reads them).
# group_by_length was added as False and became True later: version-2 specs of that time write False down.
LATER_TRAIN_SETTINGS = {"group_by_length": False}
LOG_FILE = "train_log.jsonl"


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings (saved in the run's ``config.json``).

    ``amp``: bf16 autocast over the whole training step. ``None`` (default): on CUDA only; ``True``: on CUDA, and on
    a CPU with native bf16 (AVX512-BF16 or AMX; elsewhere the step stays fp32, as bf16 would be emulated);
    ``False``: never; on CPUs it is not a default, as its speed-up there is not established
    (docs/results/perf_step_options.md). ``group_by_length`` (default ``True`` since 2026-12-01): batches of
    documents of similar length, their order still seeded (less padding: 1.07x docs/s at 128 tokens and 1.94x at
    256 on AAPD, same accuracy over 3 seeds; docs/RESULTS.md, "Length-grouped batches on AAPD"); see
    :func:`~uclaf_plugin.data.batches.length_grouped_batches`. ``False``: plain seeded batches, as runs recorded
    before then.
    """

    epochs: int = 8
    batch_size: int = 16
    lr: float = 5e-5
    head_lr: float | None = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    monitor: str = "P@1"
    patience: int | None = None
    checkpoint_every: int = 200
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    group_by_length: bool = True
    eval_batch_size: int = 64
    threshold: float = 0.5
    quiet: bool = False

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "epochs": [Interval(1, None, integer=True)],
        "batch_size": [Interval(1, None, integer=True)],
        "eval_batch_size": [Interval(1, None, integer=True)],
        "lr": [Interval(0, None, closed="neither")],
        "head_lr": [None, Interval(0, None, closed="neither")],
        "weight_decay": [Interval(0, None)],
        "warmup_ratio": [Interval(0, 1, closed="left")],
        "patience": [None, Interval(1, None, integer=True)],
        "checkpoint_every": [Interval(0, None, integer=True)],  # 0: only at the end of each epoch
    }

    def __post_init__(self):
        check_settings(asdict(self), self._parameter_constraints, display=lambda name: f"TrainConfig.{name}")


@dataclass
class _Run:
    """The live state of one ``fit`` call: the optimizer and scheduler, the progress, this session's clocks."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    progress: TrainProgress = field(default_factory=TrainProgress)
    session_started: float = field(default_factory=time.perf_counter)
    epoch_started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        """Training seconds so far, summed over interrupted and resumed sessions."""
        return self.progress.train_seconds + time.perf_counter() - self.session_started


class Trainer:
    """The training loop; keeps the best epoch by ``config.monitor``.

    Args:
        config: a :class:`TrainConfig` (``batch_size``, ``seed`` and ``group_by_length`` are the batches' business:
            :class:`~uclaf_plugin.data.batches.EpochBatches` takes them).
        output_dir: where ``checkpoint.pt``, the best model and ``train_log.jsonl`` go (``None``: nothing on disk,
            and Ctrl-C is not caught).
    """

    def __init__(self, config: TrainConfig | None = None, output_dir: str | Path | None = None):
        self.config = config or TrainConfig()
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.rank, self.world_size = rank_and_world_size()
        self.device = device_for_rank(self.config.device, self.rank)
        self.amp_dtype = _autocast_dtype(self.config.amp, self.device)
        self._stop_requested = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def fit(
        self,
        model: nn.Module,
        batches: EpochBatches,
        validate: Callable[[], dict] | None = None,
        save_model: Callable[[Path], object] | None = None,
        resume: bool = False,
    ) -> dict:
        """Train ``model`` on ``batches``; returns the history, the best epoch, wall time, docs/s and peak memory.

        ``batches``: ``len(batches)`` batches per epoch, ``batches.epoch(e)`` those of epoch ``e`` (each a
        :class:`~uclaf_plugin.data.batches.Batch`), ``batches.num_docs``. ``validate()``: metrics after each epoch
        (a dict holding ``config.monitor``); without it every epoch counts as the best so far.
        ``save_model(output_dir)``: called on rank 0 whenever the best epoch improves (with an ``output_dir``).
        ``resume``: start from ``output_dir/checkpoint.pt``. The model ends with the best epoch's weights.
        Raises :class:`TrainingInterrupted` after Ctrl-C or SIGTERM, once the checkpoint is written.
        """
        seed_everything(self.config.seed)
        share_cores_between_ranks(self.device, self.world_size)
        model.to(self.device)
        run = self._new_run(model, steps_per_epoch=len(batches))
        if resume:
            self._restore(run)
        wrapped = wrap_for_ranks(model, self.device, self.world_size)
        self._install_interrupt_handler()
        try:
            for epoch in range(run.progress.epoch, self.config.epochs):
                self._train_epoch(run, wrapped, batches.epoch(epoch), epoch)
                self._end_epoch(run, epoch, validate, save_model)
                if self._early_stop(run.progress):
                    break
        finally:
            self._restore_interrupt_handler()
        run.progress.train_seconds = run.elapsed()
        if run.progress.best_state is not None:
            model.load_state_dict(run.progress.best_state)
        return self._summary(run.progress, batches.num_docs)

    # -- one epoch -------------------------------------------------------------------------------------------

    def _train_epoch(self, run: _Run, wrapped: nn.Module, epoch_batches, epoch: int) -> None:
        progress = run.progress
        run.model.train()
        with ProgressBar(
            f"epoch {epoch + 1}/{self.config.epochs}",
            len(epoch_batches),
            self.config.quiet or not self.is_main,
        ) as bar:
            bar.advance(progress.step_in_epoch)
            for step in range(progress.step_in_epoch, len(epoch_batches)):
                losses = self._train_step(run, wrapped, epoch_batches[step])
                progress.step_in_epoch = step + 1
                progress.global_step += 1
                bar.advance(1, loss=losses["loss"])
                lr = run.scheduler.get_last_lr()[0]
                self._log({"epoch": epoch + 1, "step": progress.global_step, **losses, "lr": lr})
                if stop_agreed(self._stop_requested, self.device, self.world_size):
                    raise TrainingInterrupted(self._save_checkpoint(run))
                if self.config.checkpoint_every and progress.global_step % self.config.checkpoint_every == 0:
                    self._save_checkpoint(run)

    def _train_step(self, run: _Run, wrapped: nn.Module, batch) -> dict:
        batch = batch.to(self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            output = wrapped(batch.input_ids, batch.attention_mask, labels=batch.labels)
        run.optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        if self.config.max_grad_norm:
            nn.utils.clip_grad_norm_(_trainable(run.model), self.config.max_grad_norm)
        run.optimizer.step()
        run.scheduler.step()
        # read the terms from the device once (one host synchronisation on GPU), not once per term
        losses = output.losses()
        values = torch.stack([value.detach().float() for value in losses.values()]).tolist()
        return dict(zip(losses, values, strict=True))

    def _end_epoch(self, run: _Run, epoch: int, validate, save_model) -> None:
        progress = run.progress
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - run.epoch_started, 2)}
        if validate is not None:
            record["val"] = validate()
            score = record["val"].get(self.config.monitor)
            if score is None:
                raise ValueError(
                    f"monitor={self.config.monitor!r} is not a metric; choose one of {sorted(record['val'])}"
                )
            if score > progress.best_score:
                progress.best_score, progress.best_epoch = score, epoch + 1
                self._remember_best(run, save_model)
        else:
            progress.best_epoch = epoch + 1
            self._remember_best(run, save_model)
        progress.history.append(record)
        progress.epoch, progress.step_in_epoch = epoch + 1, 0
        run.epoch_started = time.perf_counter()
        self._log(record)
        self._announce(record)
        self._save_checkpoint(run)

    def _early_stop(self, progress: TrainProgress) -> bool:
        patience = self.config.patience
        return patience is not None and progress.epoch - progress.best_epoch >= patience

    # -- optimizer, checkpoints, best weights -----------------------------------------------------------------

    def _new_run(self, model: nn.Module, steps_per_epoch: int) -> _Run:
        optimizer = torch.optim.AdamW(parameter_groups(model, self.config), lr=self.config.lr)
        total_steps = max(1, steps_per_epoch * self.config.epochs)
        warmup = int(self.config.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_then_linear_decay(warmup, total_steps)
        )
        return _Run(model, optimizer, scheduler)

    def _remember_best(self, run: _Run, save_model) -> None:
        state = run.model.state_dict()
        run.progress.best_state = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
        if save_model is not None and self.output_dir is not None and self.is_main:
            save_model(self.output_dir)

    def _save_checkpoint(self, run: _Run) -> Path | None:
        if self.output_dir is None:
            return None
        path = self.output_dir / CHECKPOINT_FILE
        if self.is_main:
            progress = replace(run.progress, train_seconds=run.elapsed())
            config = asdict(self.config)
            Checkpoint.capture(progress, run.model, run.optimizer, run.scheduler, config).save(path)
        return path

    def _restore(self, run: _Run) -> None:
        path = self.output_dir / CHECKPOINT_FILE if self.output_dir is not None else None
        if path is None:
            raise FileNotFoundError(
                "cannot resume: no output folder was given; start the run without --resume"
            )
        run.progress = Checkpoint.load(path).restore(run.model, run.optimizer, run.scheduler)

    # -- signals, output --------------------------------------------------------------------------------------

    def _install_interrupt_handler(self) -> None:
        """Ctrl-C or SIGTERM: finish the current step, write a checkpoint, stop. A second Ctrl-C stops at once."""
        self._previous_handlers = {}
        if self.output_dir is None or not _in_main_thread():
            return

        def request_stop(signum, frame):
            if self._stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._stop_requested = True

        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, request_stop)

    def _restore_interrupt_handler(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)

    def _log(self, record: dict) -> None:
        if self.output_dir is None or not self.is_main:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output_dir / LOG_FILE, "a") as log:
            log.write(json.dumps(record) + "\n")

    def _announce(self, record: dict) -> None:
        if self.config.quiet or not self.is_main:
            return
        shown = {
            k: f"{100 * v:.2f}"
            for k, v in record.get("val", {}).items()
            if k in ("P@1", "P@3", "P@5", "nDCG@5")
        }
        print(
            f"epoch {record['epoch']}/{self.config.epochs} ({record['seconds']:.0f}s) val {shown}",
            file=sys.stderr,
        )

    def _summary(self, progress: TrainProgress, num_docs: int) -> dict:
        seconds = progress.train_seconds
        epochs_run = len(progress.history)
        return {
            "history": progress.history,
            "best_epoch": progress.best_epoch,
            "train_seconds": round(seconds, 2),
            "docs_per_second": round(num_docs * epochs_run / seconds, 2) if seconds > 0 else None,
            "peak_memory_mb": _peak_memory_mb(self.device),
            "device": str(self.device),
            "world_size": self.world_size,
        }


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """AdamW groups: encoder at ``lr``; new layers (head, projection) at ``head_lr``; no decay on biases and norms."""
    head_lr = config.head_lr or config.lr
    groups = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        lr = config.lr if name.startswith("encoder.") else head_lr
        decay = 0.0 if parameter.ndim < 2 else config.weight_decay
        groups.setdefault((lr, decay), []).append(parameter)
    return [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]


def _autocast_dtype(amp: bool | None, device: torch.device) -> torch.dtype | None:
    """bf16 for the whole step on CUDA (unless ``amp is False``) and on native-bf16 CPUs when ``amp is True``."""
    if device.type == "cuda" and amp is not False:
        return torch.bfloat16
    if device.type == "cpu" and amp is True and native_cpu_bf16():
        return torch.bfloat16
    return None


def _warmup_then_linear_decay(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps + 1))

    return factor


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (call before building a model for reproducible initial weights)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
