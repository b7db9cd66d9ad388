"""Trainer: AdamW with warmup and linear decay, validation with early stopping, atomic checkpoints, exact resume.

One training step: tokens -> ``model(input_ids, attention_mask, labels=Y)`` (which also takes the key encoder's
momentum step) -> ``loss.backward()`` -> clip -> optimizer and scheduler step. Under ``torch.distributed`` the model
is wrapped in DistributedDataParallel, every rank reads its own shard of each epoch's permutation, and only rank 0 writes.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .contrastive import native_cpu_bf16
from .files import atomic_write
from .metrics import evaluate
from .pipeline import TextClassifier, pad_batch
from .sparse_labels import SPARSE_LABELS_FROM, csr_to_torch

CHECKPOINT_FILE = "checkpoint.pt"
# Training settings added after runs were recorded, with the value those runs had (run hashes leave them out there).
LATER_TRAIN_SETTINGS = {"group_by_length": False}
LOG_FILE = "train_log.jsonl"


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings (saved in the run's ``config.json``).

    ``amp``: bf16 autocast over the whole training step. ``None`` (default): on CUDA only; ``True``: on CUDA, and on
    a CPU with native bf16 (AVX512-BF16 or AMX; elsewhere the step stays fp32, as bf16 would be emulated);
    ``False``: never. ``group_by_length``: batches of documents of similar length (less padding); see
    :func:`length_grouped_batches`. Neither CPU option is a default: their accuracy is not yet checked over seeds.
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
    group_by_length: bool = False
    eval_batch_size: int = 64
    threshold: float = 0.5
    quiet: bool = False

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "head_lr"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


class TrainingInterrupted(RuntimeError):
    """Raised after Ctrl-C (or SIGTERM) once a resumable checkpoint has been written."""

    def __init__(self, checkpoint: Path):
        super().__init__(f"training interrupted; resumable checkpoint at {checkpoint}")
        self.checkpoint = checkpoint


class Trainer:
    """Fits a :class:`~uclaf_plugin.pipeline.TextClassifier`; keeps the best epoch by ``config.monitor``.

    Args:
        classifier: the model with its tokenizer and label names.
        config: a :class:`TrainConfig`.
        output_dir: where checkpoints, the best weights and ``train_log.jsonl`` go (``None``: keep nothing on disk).
    """

    def __init__(
        self,
        classifier: TextClassifier,
        config: TrainConfig | None = None,
        output_dir: str | Path | None = None,
    ):
        self.classifier = classifier
        self.config = config or TrainConfig()
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.rank, self.world_size = _distributed_rank_and_size()
        self.device = _resolve_device(self.config.device, self.rank)
        self.amp_dtype = _autocast_dtype(self.config.amp, self.device)
        self._stop_requested = False

    @property
    def model(self) -> nn.Module:
        return self.classifier.model

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def fit(self, train_texts, train_targets, val_texts=None, val_targets=None, resume: bool = False) -> dict:
        """Train; returns the history, the best epoch, wall time, docs/s and peak memory."""
        seed_everything(self.config.seed)
        _share_cores_between_ranks(self.device, self.world_size)
        self.model.to(self.device)
        train_ids = self.classifier.tokenize(train_texts)
        train_targets = _as_csr(train_targets, len(train_ids), self.classifier.label_names, "train_targets")
        steps_per_epoch = math.ceil(len(train_ids) // self.world_size / self.config.batch_size)
        state = self._new_state(steps_per_epoch)
        if resume:
            self._restore(state)
        wrapped = self._wrap_distributed()
        self._install_interrupt_handler()
        try:
            for epoch in range(state["epoch"], self.config.epochs):
                self._train_epoch(wrapped, state, epoch, train_ids, train_targets)
                self._end_epoch(state, epoch, val_texts, val_targets)
                if self._early_stop(state):
                    break
        finally:
            self._restore_interrupt_handler()
        state["train_seconds"] = self._elapsed(state)
        self._load_best(state)
        return self._summary(state, len(train_ids))

    def evaluate(self, texts, targets, propensities=None, label_counts=None) -> dict:
        """Metrics of the current model on ``texts`` (P@k, RP@k, nDCG@k, F1 at ``config.threshold``).

        ``label_counts``: train documents per label, to add the frequent/few/zero groups (see `metrics.evaluate`).
        """
        scores = self.classifier.scores(texts, batch_size=self.config.eval_batch_size, device=self.device)
        targets = _as_csr(targets, len(texts), self.classifier.label_names, "targets")
        return evaluate(
            scores,
            targets,
            propensities=propensities,
            threshold=self.config.threshold,
            label_counts=label_counts,
        )

    # -- one epoch -------------------------------------------------------------------------------------------

    def _train_epoch(self, wrapped, state, epoch, train_ids, train_targets) -> None:
        batches = self._epoch_batches(epoch, train_ids)
        self.model.train()
        with _progress(
            f"epoch {epoch + 1}/{self.config.epochs}", len(batches), self.config.quiet or not self.is_main
        ) as bar:
            bar.advance(state["step_in_epoch"])
            for step in range(state["step_in_epoch"], len(batches)):
                losses = self._train_step(wrapped, state, train_ids, train_targets, batches[step])
                state["step_in_epoch"] = step + 1
                state["global_step"] += 1
                bar.advance(1, loss=losses["loss"])
                self._log(
                    {
                        "epoch": epoch + 1,
                        "step": state["global_step"],
                        **losses,
                        "lr": state["scheduler"].get_last_lr()[0],
                    }
                )
                if self._stop_agreed():
                    raise TrainingInterrupted(self._save_checkpoint(state))
                if self.config.checkpoint_every and state["global_step"] % self.config.checkpoint_every == 0:
                    self._save_checkpoint(state)

    def _train_step(self, wrapped, state, train_ids, train_targets, rows) -> dict:
        input_ids, attention_mask = pad_batch(
            [train_ids[i] for i in rows], self.classifier.tokenizer.pad_token_id
        )
        labels = _label_batch(train_targets[rows])
        input_ids, attention_mask, labels = (t.to(self.device) for t in (input_ids, attention_mask, labels))
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            output = wrapped(input_ids, attention_mask, labels=labels)
        state["optimizer"].zero_grad(set_to_none=True)
        output["loss"].backward()
        if self.config.max_grad_norm:
            nn.utils.clip_grad_norm_(_trainable(self.model), self.config.max_grad_norm)
        state["optimizer"].step()
        state["scheduler"].step()
        return {name: float(value.detach()) for name, value in output.items() if value is not None}

    def _epoch_batches(self, epoch: int, train_ids: list[list[int]]) -> list[np.ndarray]:
        """This rank's batches of epoch ``epoch``: a permutation seeded by (seed, epoch), so resume replays it."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        order = torch.randperm(len(train_ids), generator=generator).numpy()
        per_rank = len(train_ids) // self.world_size
        shard = order[self.rank * per_rank : (self.rank + 1) * per_rank]
        if self.config.group_by_length:
            lengths = np.array([len(ids) for ids in train_ids])
            return length_grouped_batches(shard, lengths, self.config.batch_size, generator)
        return [shard[i : i + self.config.batch_size] for i in range(0, len(shard), self.config.batch_size)]

    def _end_epoch(self, state, epoch, val_texts, val_targets) -> None:
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - state["epoch_started"], 2)}
        if val_texts is not None and len(val_texts):
            record["val"] = self.evaluate(val_texts, val_targets)
            score = record["val"].get(self.config.monitor)
            if score is None:
                raise ValueError(
                    f"monitor={self.config.monitor!r} is not a metric; choose one of {sorted(record['val'])}"
                )
            if score > state["best_score"]:
                state["best_score"], state["best_epoch"] = score, epoch + 1
                self._remember_best(state)
        else:
            state["best_epoch"] = epoch + 1
            self._remember_best(state)
        state["history"].append(record)
        state["epoch"], state["step_in_epoch"] = epoch + 1, 0
        state["epoch_started"] = time.perf_counter()
        self._log(record)
        self._announce(record)
        self._save_checkpoint(state)

    def _early_stop(self, state) -> bool:
        patience = self.config.patience
        return patience is not None and state["epoch"] - state["best_epoch"] >= patience

    # -- state, checkpoints, best weights ---------------------------------------------------------------------

    def _new_state(self, steps_per_epoch: int) -> dict:
        optimizer = torch.optim.AdamW(self._parameter_groups(), lr=self.config.lr)
        total_steps = max(1, steps_per_epoch * self.config.epochs)
        warmup = int(self.config.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_then_linear_decay(warmup, total_steps)
        )
        return {
            "optimizer": optimizer,
            "scheduler": scheduler,
            "epoch": 0,
            "step_in_epoch": 0,
            "global_step": 0,
            "history": [],
            "best_score": -math.inf,
            "best_epoch": 0,
            "best_state": None,
            "train_seconds": 0.0,
            "session_started": time.perf_counter(),
            "epoch_started": time.perf_counter(),
        }

    @staticmethod
    def _elapsed(state) -> float:
        """Training seconds so far, summed over interrupted and resumed sessions."""
        return state["train_seconds"] + time.perf_counter() - state["session_started"]

    def _parameter_groups(self) -> list[dict]:
        """Encoder at ``lr``; new layers (head, projection) at ``head_lr``; no decay on biases and norms."""
        head_lr = self.config.head_lr or self.config.lr
        groups = {}
        for name, parameter in self.model.named_parameters():
            if not parameter.requires_grad:
                continue
            lr = self.config.lr if name.startswith("encoder.") else head_lr
            decay = 0.0 if parameter.ndim < 2 else self.config.weight_decay
            groups.setdefault((lr, decay), []).append(parameter)
        return [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]

    def _remember_best(self, state) -> None:
        state["best_state"] = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        if self.output_dir is not None and self.is_main:
            self.classifier.save(self.output_dir)

    def _load_best(self, state) -> None:
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])

    def _save_checkpoint(self, state) -> Path | None:
        if self.output_dir is None:
            return None
        path = self.output_dir / CHECKPOINT_FILE
        if self.is_main:
            checkpoint = {
                "model": self.model.state_dict(),
                "optimizer": state["optimizer"].state_dict(),
                "scheduler": state["scheduler"].state_dict(),
                "rng": _rng_states(),
                **{
                    k: state[k]
                    for k in ("epoch", "step_in_epoch", "global_step", "history", "best_score", "best_epoch")
                },
                "best_state": state["best_state"],
                "train_seconds": self._elapsed(state),
                "train_config": asdict(self.config),
            }
            atomic_write(path, lambda temp: torch.save(checkpoint, temp))
        return path

    def _restore(self, state) -> None:
        path = self.output_dir / CHECKPOINT_FILE if self.output_dir is not None else None
        if path is None or not path.is_file():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {path}; start the run without --resume")
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(checkpoint["model"])
        state["optimizer"].load_state_dict(checkpoint["optimizer"])
        state["scheduler"].load_state_dict(checkpoint["scheduler"])
        for key in (
            "epoch",
            "step_in_epoch",
            "global_step",
            "history",
            "best_score",
            "best_epoch",
            "best_state",
            "train_seconds",
        ):
            state[key] = checkpoint[key]
        _set_rng_states(checkpoint["rng"])

    # -- distributed, signals, output -------------------------------------------------------------------------

    def _wrap_distributed(self) -> nn.Module:
        if self.world_size == 1:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids, broadcast_buffers=False)

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

    def _stop_agreed(self) -> bool:
        """Whether to stop after this step: a stop asked on any rank stops every rank at the same step."""
        if self.world_size == 1:
            return self._stop_requested
        flag = torch.tensor([float(self._stop_requested)], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

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

    def _summary(self, state, num_docs: int) -> dict:
        seconds = state["train_seconds"]
        epochs_run = len(state["history"])
        return {
            "history": state["history"],
            "best_epoch": state["best_epoch"],
            "train_seconds": round(seconds, 2),
            "docs_per_second": round(num_docs * epochs_run / seconds, 2) if seconds > 0 else None,
            "peak_memory_mb": _peak_memory_mb(self.device),
            "device": str(self.device),
            "world_size": self.world_size,
        }


GROUP_BATCHES = 50  # batches per length group, as Hugging Face's LengthGroupedSampler (megabatch_mult)


def length_grouped_batches(
    order: np.ndarray, lengths: np.ndarray, batch_size: int, generator: torch.Generator
) -> list[np.ndarray]:
    """Batches of documents of similar length from a shuffled ``order``, in a seeded random order.

    ``order`` is cut into groups of ``GROUP_BATCHES × batch_size`` documents; each group is sorted by token length
    (longest first, ties in ``order``) and cut into batches; the batches are then shuffled with ``generator``. So
    every document is used once per epoch, each batch is padded to a length close to its documents', and the
    batches are as reproducible as the permutation. ``lengths[i]``: tokens of document ``i``.
    """
    group = GROUP_BATCHES * batch_size
    batches = []
    for start in range(0, len(order), group):
        members = order[start : start + group]
        members = members[np.argsort(-lengths[members], kind="stable")]
        batches += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


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


def _label_batch(targets: sp.csr_matrix) -> torch.Tensor:
    """A batch's labels: dense float ``(B, L)``, or torch sparse CSR from ``SPARSE_LABELS_FROM`` labels on."""
    if targets.shape[1] >= SPARSE_LABELS_FROM:
        return csr_to_torch(targets)
    return torch.from_numpy(targets.toarray()).float()


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _as_csr(targets, num_docs: int, label_names: list[str], argument: str) -> sp.csr_matrix:
    matrix = sp.csr_matrix(targets, dtype=np.float32)
    if matrix.shape != (num_docs, len(label_names)):
        raise ValueError(
            f"{argument} has shape {matrix.shape}; expected ({num_docs}, {len(label_names)}) (documents, labels)"
        )
    return matrix


def _distributed_rank_and_size() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _resolve_device(device: str, rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA device is available; use --device cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    return torch.device(device)


def _share_cores_between_ranks(device: torch.device, world_size: int) -> None:
    """On CPU, torch already uses every core; ranks of one machine split them so they do not oversubscribe."""
    if device.type == "cpu" and world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (call before building a model for reproducible initial weights)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _progress:
    """A rich progress bar with ETA and the running loss; silent when ``quiet``."""

    def __init__(self, description: str, total: int, quiet: bool):
        self.description, self.total, self.quiet = description, total, quiet

    def __enter__(self):
        if not self.quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, loss=float("nan"))
        return self

    def advance(self, steps: int, loss: float | None = None) -> None:
        if not self.quiet and steps:
            fields = {} if loss is None else {"loss": loss}
            self.bar.update(self.task, advance=steps, **fields)

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.stop()
        return False
