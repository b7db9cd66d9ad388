"""The data side of training: collation into tensor batches and each epoch's seeded batch order."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from uclaf_plugin.data.batches import EpochBatches, collate


def test_collate_pads_masks_and_keeps_label_rows_for_two_texts(tokenizer):
    ids = tokenizer(["label attention works", "short"])["input_ids"]
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    words = tokenizer.convert_tokens_to_ids(["label", "attention", "works", "short"])
    assert ids == [[cls, *words[:3], sep], [cls, words[3], sep]]  # the tokenizer's own ids, one per word
    targets = sp.csr_matrix(np.array([[0, 1, 1, 0], [1, 0, 0, 0]], dtype=np.float32))

    batch = collate(ids, targets, pad)

    assert batch.input_ids.dtype == torch.long and batch.attention_mask.dtype == torch.long
    assert batch.input_ids.tolist() == [[cls, *words[:3], sep], [cls, words[3], sep, pad, pad]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert batch.labels.dtype == torch.float32
    assert batch.labels.tolist() == [[0, 1, 1, 0], [1, 0, 0, 0]]


def test_an_epoch_collates_the_documents_of_its_rows():
    ids = [[7] * n for n in (3, 1, 4, 1, 5, 9, 2)]
    targets = np.eye(7, 3, dtype=np.float32)
    batches = EpochBatches(ids, targets, pad_id=0, batch_size=3, seed=2)
    rows, epoch = batches.rows(1), batches.epoch(1)
    assert len(batches) == len(epoch) == 3
    for batch_rows, batch in zip(rows, epoch, strict=True):
        longest = max(len(ids[r]) for r in batch_rows)
        assert batch.input_ids.shape == (len(batch_rows), longest)
        assert batch.attention_mask.sum(1).tolist() == [len(ids[r]) for r in batch_rows]
        assert batch.labels.tolist() == targets[batch_rows].tolist()


def test_targets_must_have_a_row_per_document():
    with pytest.raises(ValueError, match="3 target rows for 2 documents"):
        EpochBatches([[1], [2]], np.zeros((3, 2)), pad_id=0, batch_size=2)


def reference_epoch(lengths, epoch, batch_size, seed, group_by_length, rank=0, world_size=1):
    """The batch order the trainer has always used, written out slowly: a permutation seeded by
    ``seed * 100_003 + epoch``, this rank's equal shard of it, then either plain cuts or, with
    ``group_by_length``, groups of 50 batches sorted longest first (ties in permutation order), cut, and the
    batches shuffled by the same generator."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    per_rank = len(lengths) // world_size
    shard = order[rank * per_rank : (rank + 1) * per_rank]
    if not group_by_length:
        return [shard[i : i + batch_size] for i in range(0, len(shard), batch_size)]
    batches, group = [], 50 * batch_size
    for start in range(0, len(shard), group):
        members = sorted(shard[start : start + group], key=lambda doc: -lengths[doc])  # a stable sort
        batches += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


@pytest.mark.parametrize("group_by_length", [False, True])
@pytest.mark.parametrize(("seed", "epoch"), [(0, 0), (0, 3), (7, 1)])
@pytest.mark.parametrize(("rank", "world_size"), [(0, 1), (0, 2), (1, 2)])
def test_epoch_order_is_the_recorded_one(group_by_length, seed, epoch, rank, world_size):
    lengths = np.random.default_rng(1).integers(1, 20, 1013)  # many ties; more than one group of 50 batches
    ids = [[5] * int(n) for n in lengths]
    batches = EpochBatches(
        ids, np.zeros((len(ids), 2)), 0, 4, seed, group_by_length, rank=rank, world_size=world_size
    )
    expected = reference_epoch(lengths.tolist(), epoch, 4, seed, group_by_length, rank, world_size)
    assert [rows.tolist() for rows in batches.rows(epoch)] == expected
    assert len(batches) == len(expected)


def test_ranks_read_disjoint_shards_of_one_permutation():
    ids = [[1]] * 11
    shards = [
        np.concatenate(EpochBatches(ids, np.zeros((11, 1)), 0, 2, rank=r, world_size=2).rows(0))
        for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1]) == 5 and not set(shards[0]) & set(shards[1])
