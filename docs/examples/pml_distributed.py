"""CACLLoss under DistributedDataParallel with PML's ``DistributedLossWrapper`` (2 CPU processes, gloo).

Each process embeds its half of every global batch; the wrapper all-gathers the embeddings and multi-hot labels,
so every anchor is compared with the whole global batch, as on one machine. Use ``efficient=False`` with
multi-hot labels (PML's efficient path builds its pairs from 1-D class labels). The script checks that the
distributed loss and gradients equal those of CACL on the whole batch in one process, that the replicas stay identical, and that the
held-out loss drops. Run: ``python docs/examples/pml_distributed.py``.
"""

import copy
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from pytorch_metric_learning.utils.distributed import DistributedLossWrapper
from torch.nn.parallel import DistributedDataParallel

from uclaf_plugin import CACLLoss

WORLD_SIZE, NUM_DOCS, NUM_LABELS, FEATURES, EMBEDDING, BATCH = 2, 512, 12, 32, 16, 64
PROTOTYPES = torch.randn(NUM_LABELS, FEATURES, generator=torch.Generator().manual_seed(99))


def synthetic_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features = sum of the document's label prototypes + noise; every document has at least one label."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(NUM_DOCS, NUM_LABELS, generator=generator) < 0.08).int()
    labels[torch.arange(NUM_DOCS), torch.randint(NUM_LABELS, (NUM_DOCS,), generator=generator)] = 1
    features = labels.float() @ PROTOTYPES + 1.5 * torch.randn(NUM_DOCS, FEATURES, generator=generator)
    return features, labels


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker(rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    torch.set_num_threads(1)
    try:
        train(rank)
        dist.barrier()  # no rank tears the group down while another still has messages in flight
    finally:
        dist.destroy_process_group()


def train(rank: int) -> None:
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, EMBEDDING))
    model = DistributedDataParallel(net)
    loss_fn = DistributedLossWrapper(CACLLoss(temperature=0.1), efficient=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    features, labels = synthetic_data(seed=0)
    test_features, test_labels = synthetic_data(seed=1)
    single_process = CACLLoss(temperature=0.1)
    with torch.no_grad():
        loss_before = single_process(net(test_features), test_labels).item()

    order = torch.randperm(NUM_DOCS, generator=torch.Generator().manual_seed(1))  # same on every rank
    for step, batch in enumerate(order.split(BATCH) * 5):
        mine = batch[rank::WORLD_SIZE]
        loss = loss_fn(model(features[mine]), labels[mine])  # the wrapper returns world_size x the loss
        optimizer.zero_grad()
        loss.backward()  # DDP averages the gradients of the ranks
        if step == 0:
            check_against_one_process(net, loss, features[batch], labels[batch])
        optimizer.step()

    weights = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    replicas = [torch.empty_like(weights) for _ in range(WORLD_SIZE)]
    dist.all_gather(replicas, weights)
    assert all(torch.equal(replica, weights) for replica in replicas), "DDP replicas diverged"
    with torch.no_grad():
        loss_after = single_process(net(test_features), test_labels).item()
    if rank == 0:
        print("step 0: distributed loss / world_size and gradients == CACL of the whole batch in one process")
        print(f"replicas identical after training; held-out CACL: {loss_before:.3f} -> {loss_after:.3f}")
    assert loss_after < 0.9 * loss_before, "CACL should drop during training"


def check_against_one_process(net, loss: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> None:
    """The distributed loss and gradients equal those of CACL on the whole global batch in one process."""
    reference = copy.deepcopy(net)
    whole_batch = CACLLoss(temperature=0.1)(reference(features), labels)
    whole_batch.backward()
    torch.testing.assert_close(loss.detach() / WORLD_SIZE, whole_batch.detach(), rtol=1e-5, atol=1e-5)
    for parameter, expected in zip(net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(parameter.grad, expected.grad, rtol=1e-4, atol=1e-6)


def main() -> None:
    mp.spawn(worker, args=(free_port(),), nprocs=WORLD_SIZE, join=True)


if __name__ == "__main__":
    main()
