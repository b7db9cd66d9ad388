"""Issue #17, kind 6: cross-batch memory stays identical on every process under PML's DistributedLossWrapper."""

import socket

import pytest
import torch
import torch.multiprocessing as mp
from pytorch_metric_learning.utils.distributed import DistributedLossWrapper

from uclaf_plugin import CACLLoss
from uclaf_plugin.memory import MultiLabelCrossBatchMemory

MEMORY_SIZES = (6, 5, 7, 16)
STEPS = 5
ROWS_PER_RANK = 2


def _batch(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 * step + rank)
    labels = (torch.rand(ROWS_PER_RANK, 3, generator=g) < 0.5).int()
    labels[:, 0] |= 1 - labels.amax(dim=1)  # every row has a label
    return torch.randn(ROWS_PER_RANK, 4, generator=g), labels


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    results = {}
    for size in MEMORY_SIZES:
        memory = MultiLabelCrossBatchMemory(CACLLoss(), embedding_size=4, num_labels=3, memory_size=size)
        wrapped = DistributedLossWrapper(memory)
        steps = []
        for step in range(STEPS):
            loss = wrapped(*_batch(step, rank))
            steps.append((loss.detach(), memory.queue.embeddings.clone(), memory.queue.labels.clone()))
        results[size] = steps
    torch.save(results, f"{out_dir}/rank{rank}.pt")
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(out / f"rank{rank}.pt") for rank in range(2)]


@pytest.mark.parametrize("size", MEMORY_SIZES)
def test_every_rank_holds_the_same_memory_and_loss(two_ranks, size):
    for step in range(STEPS):
        (loss0, keys0, labels0), (loss1, keys1, labels1) = two_ranks[0][size][step], two_ranks[1][size][step]
        assert torch.equal(keys0, keys1) and torch.equal(labels0, labels1), f"step {step + 1}"
        assert torch.equal(loss0, loss1), f"step {step + 1}: {loss0} vs {loss1}"


@pytest.mark.parametrize("size", MEMORY_SIZES)
def test_the_shared_memory_is_the_one_process_memory_of_the_rank_ordered_batch(two_ranks, size):
    """Reference: one process given rank 0's rows then rank 1's; the wrapper multiplies the loss by 2 ranks."""
    single = MultiLabelCrossBatchMemory(CACLLoss(), embedding_size=4, num_labels=3, memory_size=size)
    for step in range(STEPS):
        batches = [_batch(step, rank) for rank in range(2)]
        expected = single(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
        for rank in range(2):
            loss, keys, labels = two_ranks[rank][size][step]
            assert torch.equal(keys, single.queue.embeddings) and torch.equal(labels, single.queue.labels)
            torch.testing.assert_close(loss, 2 * expected.detach())


def test_enqueue_mask_rows_enter_in_rank_order_too(tmp_path):
    mp.spawn(_masked_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    keys = [torch.load(tmp_path / f"masked{rank}.pt") for rank in range(2)]
    # rank 0 enqueues its rows 0 and 1 (mask), rank 1 its row 1: rank order 0a, 0b, 1b
    rows = [_batch(0, 0)[0][0], _batch(0, 0)[0][1], _batch(0, 1)[0][1]]
    assert torch.equal(keys[0], keys[1]) and torch.equal(keys[0], torch.stack(rows))


def _masked_worker(rank: int, port: int, out_dir: str) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    memory = MultiLabelCrossBatchMemory(CACLLoss(), embedding_size=4, num_labels=3, memory_size=8)
    mask = torch.tensor([True, True]) if rank == 0 else torch.tensor([False, True])
    DistributedLossWrapper(memory)(*_batch(0, rank), enqueue_mask=mask)
    torch.save(memory.queue.embeddings.clone(), f"{out_dir}/masked{rank}.pt")
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
