"""Multi-process training: ``--nproc N`` spawns N workers (gloo on CPU, NCCL on GPU); ``torchrun`` works too."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


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
    and ``launch`` raises :class:`~uclaf_plugin.train.TrainingInterrupted` as a single process would (its
    ``checkpoint`` is ``None``: the caller knows the run folder). A second Ctrl-C stops the workers at once.
    """
    from ..train import TrainingInterrupted

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
    from ..train import TrainingInterrupted

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
