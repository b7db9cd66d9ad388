"""MultiLabelQueue, MultiLabelCrossBatchMemory (against PML's CrossBatchMemory) and momentum updates."""

import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from pytorch_metric_learning.losses import CrossBatchMemory, SupConLoss
from pytorch_metric_learning.utils.distributed import DistributedLossWrapper

from uclaf_plugin.losses import CACLLoss, cacl_loss
from uclaf_plugin.memory import MultiLabelCrossBatchMemory, MultiLabelQueue, momentum_copy, momentum_update


def _rows(start, count, dim=2, num_labels=3):
    """Rows whose key is (k, k) and whose labels are the bits of k: easy to recognise after a gather."""
    index = torch.arange(start, start + count)
    keys = index[:, None].float().expand(count, dim).clone()
    labels = (index[:, None] >> torch.arange(num_labels)) & 1
    return keys, labels


def test_queue_wraps_around_and_reports_filled_rows_only():
    queue = MultiLabelQueue(size=5, dim=2, num_labels=3)
    queue.enqueue(*_rows(0, 3))
    assert len(queue) == 3 and queue.embeddings[:, 0].tolist() == [0, 1, 2]
    slots = queue.enqueue(*_rows(3, 4))
    assert slots.tolist() == [3, 4, 0, 1]
    assert queue.embeddings[:, 0].tolist() == [5, 6, 2, 3, 4]
    assert torch.equal(queue.labels, _rows(0, 7)[1][[5, 6, 2, 3, 4]].bool())
    assert queue.labels.dtype == torch.bool and int(queue.pointer) == 2


def test_a_batch_larger_than_the_queue_keeps_the_newest_rows():
    queue = MultiLabelQueue(size=4, dim=2, num_labels=3)
    queue.enqueue(*_rows(0, 1))
    queue.enqueue(*_rows(1, 6))
    assert sorted(queue.embeddings[:, 0].tolist()) == [3, 4, 5, 6]
    assert len(queue) == 4


def test_queue_state_dict_round_trip():
    queue = MultiLabelQueue(size=5, dim=2, num_labels=3)
    queue.enqueue(*_rows(0, 4))
    restored = MultiLabelQueue(size=5, dim=2, num_labels=3)
    restored.load_state_dict(queue.state_dict())
    assert torch.equal(restored.embeddings, queue.embeddings) and torch.equal(restored.labels, queue.labels)
    assert restored.enqueue(*_rows(4, 2)).tolist() == queue.enqueue(*_rows(4, 2)).tolist() == [4, 0]
    assert torch.equal(restored.embeddings, queue.embeddings)


def test_enqueued_keys_are_detached():
    queue = MultiLabelQueue(size=3, dim=2, num_labels=3)
    keys = torch.randn(2, 2, requires_grad=True)
    queue.enqueue(keys, torch.ones(2, 3))
    assert not queue.embeddings.requires_grad


@pytest.mark.parametrize(
    ("keys", "labels", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 3), "keys must have shape"),
        (torch.zeros(2, 2), torch.zeros(2, 4), "labels must be multi-hot of shape"),
        (torch.zeros(2, 2), torch.full((2, 3), 0.5), "only 0 and 1"),
    ],
)
def test_queue_rejects_bad_rows(keys, labels, message):
    with pytest.raises(ValueError, match=message):
        MultiLabelQueue(size=3, dim=2, num_labels=3).enqueue(keys, labels)


def test_queue_rejects_bad_sizes():
    with pytest.raises(ValueError, match="size"):
        MultiLabelQueue(size=0, dim=2, num_labels=3)


def test_memory_matches_pml_cross_batch_memory_on_one_hot_labels():
    g = torch.Generator().manual_seed(0)
    pml = CrossBatchMemory(SupConLoss(0.2), embedding_size=6, memory_size=20)
    ours = MultiLabelCrossBatchMemory(CACLLoss(0.2), embedding_size=6, num_labels=4, memory_size=20)
    for step in range(6):  # 6 batches of 8 wrap the memory of 20 twice
        emb = torch.randn(8, 6, generator=g, requires_grad=True)
        ids = torch.randint(0, 4, (8,), generator=g)
        mask = torch.rand(8, generator=g) < 0.5 if step % 2 else None
        expected = pml(emb, ids, enqueue_mask=mask)
        (expected_grad,) = torch.autograd.grad(expected, emb)
        got = ours(emb, F.one_hot(ids, 4), enqueue_mask=mask)
        (grad,) = torch.autograd.grad(got, emb)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(grad, expected_grad)


def _per_label_reference(emb, labels, ref_emb, ref_labels, tau, candidates):
    """Eq. 11 with loops; ``candidates(i)`` lists the references anchor i is compared with."""
    q, r = F.normalize(emb, dim=1), F.normalize(ref_emb, dim=1)
    losses = []
    for i in range(len(q)):
        cands = candidates(i)
        lse = torch.logsumexp(torch.stack([q[i] @ r[a] / tau for a in cands]), dim=0)
        terms = []
        for j in torch.nonzero(labels[i]).flatten().tolist():
            pos = [a for a in cands if ref_labels[a, j]]
            if pos:
                terms.append(-sum(q[i] @ r[a] / tau - lse for a in pos) / len(pos))
        if terms:
            losses.append(sum(terms))
    return sum(losses) / len(losses)


def test_memory_compares_anchors_with_everything_but_their_own_slot():
    g = torch.Generator().manual_seed(1)
    memory = MultiLabelCrossBatchMemory(CACLLoss(0.5), embedding_size=4, num_labels=3, memory_size=10)
    first = torch.randn(6, 4, generator=g), (torch.rand(6, 3, generator=g) < 0.5).int()
    # on an empty memory, the batch is compared with itself minus self: the plain loss
    torch.testing.assert_close(memory(*first), cacl_loss(*first, temperature=0.5))
    emb, labels = torch.randn(6, 4, generator=g), (torch.rand(6, 3, generator=g) < 0.5).int()
    loss = memory(emb, labels)
    ref_emb = torch.cat([emb[4:], first[0][2:], emb[:4]])  # slots 0-1 wrapped, 2-5 from the first batch
    ref_labels = torch.cat([labels[4:], first[1][2:], labels[:4]])
    own_slot = [6, 7, 8, 9, 0, 1]
    expected = _per_label_reference(
        emb, labels, ref_emb, ref_labels, 0.5, lambda i: [a for a in range(10) if a != own_slot[i]]
    )
    torch.testing.assert_close(loss, expected)


def test_miner_picks_the_candidates():
    g = torch.Generator().manual_seed(2)

    def even_references(embeddings, labels, ref_emb, ref_labels):
        anchors, refs = torch.meshgrid(
            torch.arange(len(embeddings)), torch.arange(0, len(ref_emb), 2), indexing="ij"
        )
        return anchors.flatten(), refs.flatten(), anchors.flatten()[:0], refs.flatten()[:0]

    memory = MultiLabelCrossBatchMemory(CACLLoss(0.5), 4, 3, memory_size=10, miner=even_references)
    emb, labels = torch.randn(6, 4, generator=g), (torch.rand(6, 3, generator=g) < 0.6).int()
    expected = _per_label_reference(
        emb, labels, emb, labels, 0.5, lambda i: [a for a in range(0, 6, 2) if a != i]
    )
    torch.testing.assert_close(memory(emb, labels), expected)


def test_memory_rejects_bad_use():
    with pytest.raises(ValueError, match="CACLLoss"):
        MultiLabelCrossBatchMemory(SupConLoss(), embedding_size=4, num_labels=3)
    memory = MultiLabelCrossBatchMemory(CACLLoss(), embedding_size=4, num_labels=3, memory_size=4)
    with pytest.raises(ValueError, match="memory_size"):
        memory(torch.randn(5, 4), torch.ones(5, 3))
    with pytest.raises(ValueError, match="mutually exclusive"):
        memory(
            torch.randn(2, 4),
            torch.ones(2, 3),
            indices_tuple=(),
            enqueue_mask=torch.ones(2, dtype=torch.bool),
        )


def test_momentum_update_is_an_ema_of_parameters_and_copies_buffers():
    source, target = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        source.weight.fill_(1.0)
        target.weight.fill_(0.0)
        source.running_mean.fill_(7.0)
    momentum_update(target, source, m=0.9)
    torch.testing.assert_close(target.weight, torch.full((3,), 0.1))
    torch.testing.assert_close(target.running_mean, torch.full((3,), 7.0))
    with pytest.raises(ValueError, match="m must be"):
        momentum_update(target, source, m=1.5)
    with pytest.raises(ValueError, match="parameters"):
        momentum_update(torch.nn.Linear(3, 3), source)


def test_momentum_copy_is_a_frozen_independent_copy():
    module = torch.nn.Linear(3, 2)
    twin = momentum_copy(module)
    assert all(not p.requires_grad for p in twin.parameters())
    assert torch.equal(twin.weight, module.weight) and twin.weight.data_ptr() != module.weight.data_ptr()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _distributed_worker(rank, port, out_dir):
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    queue = MultiLabelQueue(size=6, dim=2, num_labels=3)
    queue.enqueue(*_rows(0, 2) if rank == 0 else _rows(2, 3))  # unequal batch sizes
    queue.enqueue(*_rows(5, 3) if rank == 0 else _rows(8, 1))
    memory = MultiLabelCrossBatchMemory(CACLLoss(0.5), embedding_size=4, num_labels=3, memory_size=16)
    emb, labels = _memory_batch(rank)
    loss = DistributedLossWrapper(memory)(emb, labels)
    results = dict(queue=queue.state_dict(), memory=memory.queue.state_dict(), loss=loss.detach())
    torch.save(results, f"{out_dir}/rank{rank}.pt")
    torch.distributed.barrier()  # no rank tears the group down while another still has messages in flight
    torch.distributed.destroy_process_group()


def _memory_batch(rank):
    g = torch.Generator().manual_seed(10 + rank)
    return torch.randn(4, 4, generator=g), (torch.rand(4, 3, generator=g) < 0.5).int()


@pytest.mark.slow
def test_queue_and_memory_agree_across_two_gloo_processes(tmp_path):
    mp.spawn(_distributed_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    # rank-ordered rows 0-4, then 5-8: 5 lands in slot 5, 6-8 wrap to slots 0-2
    expected_keys, expected_labels = _rows(0, 9)
    order = [6, 7, 8, 3, 4, 5]
    single = MultiLabelCrossBatchMemory(CACLLoss(0.5), embedding_size=4, num_labels=3, memory_size=16)
    batches = [_memory_batch(rank) for rank in range(2)]
    expected_loss = single(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
    for result in results:
        assert torch.equal(result["queue"]["keys"], expected_keys[order])
        assert torch.equal(result["queue"]["key_labels"], expected_labels[order].bool())
        assert int(result["queue"]["pointer"]) == 3 and int(result["queue"]["filled"]) == 6
        # DistributedLossWrapper puts the own rank's rows first, so ranks hold the same rows in another order
        assert torch.equal(
            result["memory"]["keys"][:8].sort(dim=0).values, single.queue.embeddings.sort(dim=0).values
        )
        torch.testing.assert_close(result["loss"], 2 * expected_loss.detach())
