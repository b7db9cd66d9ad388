"""Everything ``torch.distributed`` for training: ranks, devices, core sharing, stop agreement, DDP, launching.

``--nproc N`` spawns N workers on this machine (:func:`launch`; gloo on CPU, NCCL on GPU); ``torchrun`` works too
(:func:`init_from_environment`). Inside a worker, :func:`rank_and_world_size` names the shard,
:func:`device_for_rank` the device, :func:`wrap_for_ranks` averages gradients (DistributedDataParallel), and
:func:`stop_agreed` makes a Ctrl-C on any rank stop every rank after the same step.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn


class TrainingInterrupted(RuntimeError):
    """Raised after Ctrl-C (or SIGTERM) once a resumable checkpoint has been written.

    ``checkpoint``: its path (``None`` where the caller knows the run folder, as :func:`launch`'s caller does).
    """

    def __init__(self, checkpoint: Path | None):
        super().__init__(f"training interrupted; resumable checkpoint at {checkpoint}")
        self.checkpoint = checkpoint


def rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the number of processes (``(0, 1)`` outside ``torch.distributed``)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def device_for_rank(device: str, rank: int) -> torch.device:
    """``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ...) as a torch device; on CUDA, this rank's GPU.

    Raises ``ValueError`` for ``"cuda"`` without a CUDA device.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA device is available; use --device cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    return torch.device(device)


def share_cores_between_ranks(device: torch.device, world_size: int) -> None:
    """On CPU, torch already uses every core; ranks of one machine split them so they do not oversubscribe."""
    if device.type == "cpu" and world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))


def wrap_for_ranks(model: nn.Module, device: torch.device, world_size: int) -> nn.Module:
    """``model`` in DistributedDataParallel when there are several ranks, else ``model`` itself."""
    if world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)


def stop_agreed(requested: bool, device: torch.device, world_size: int) -> bool:
    """Whether to stop after this step: a stop ``requested`` on any rank stops every rank at the same step."""
    if world_size == 1:
        return requested
    flag = torch.tensor([float(requested)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def backend_for(device: str) -> str:
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return "nccl" if use_cuda else "gloo"


def init_from_environment(device: str = "auto") -> bool:
    """Join the process group that ``torchrun`` describes in the environment; returns whether one is active."""
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    dist.init_process_group(backend_for(device), init_method="env://")
    return True


def launch(nproc: int, function: Callable, *args, device: str = "auto") -> None:
    """Run ``function(*args)`` in ``nproc`` processes that share one process group on this machine.

    Ctrl-C reaches every process: the workers stop together after the same step, rank 0 writes the checkpoint,
    and ``launch`` raises :class:`TrainingInterrupted` as a single process would (its ``checkpoint`` is ``None``:
    the caller knows the run folder). A second Ctrl-C stops the workers at once.
    """
    if nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {nproc}")
    if nproc == 1:
        function(*args)
        return
    address = f"tcp://127.0.0.1:{free_port()}"
    stopped = mp.get_context("spawn").Event()
    worker_args = (nproc, address, backend_for(device), function, args, stopped)
    context = mp.spawn(_worker, args=worker_args, nprocs=nproc, join=False)
    _join(context)
    if stopped.is_set():
        raise TrainingInterrupted(None)


def _join(context) -> None:
    """Wait for every worker; the first Ctrl-C is theirs to handle, a second one ends them."""
    interrupts = 0
    while True:
        try:
            if context.join():
                return
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts > 1:
                for process in context.processes:
                    process.terminate()
                raise


def _worker(
    rank: int, world_size: int, address: str, backend: str, function: Callable, args: tuple, stopped
) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size)})
    dist.init_process_group(backend, init_method=address, rank=rank, world_size=world_size)
    try:
        try:
            function(*args)
        except TrainingInterrupted:
            stopped.set()  # every rank stops at the same step; the barrier waits for rank 0's checkpoint
        dist.barrier()  # no rank tears the group down while another still has messages in flight
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
