"""Token ids and multi-hot targets -> tensor batches in a seeded order per epoch (the data side of training).

The trainer (:class:`~uclaf_plugin.train.Trainer`) takes what this module gives, never texts: an
:class:`EpochBatches` says how many batches an epoch has on this rank and collates the ``b``-th one on demand into
a :class:`Batch` of ``input_ids`` and ``attention_mask`` ``(B, T)`` and ``labels`` ``(B, L)``. Each epoch's order
is a permutation seeded by ``(seed, epoch)``, so a resumed run replays the same batches; under
``torch.distributed`` rank ``r`` reads the ``r``-th equal shard of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..sparse_labels import SPARSE_LABELS_FROM, csr_to_torch

GROUP_BATCHES = 50  # batches per length group, as Hugging Face's LengthGroupedSampler (megabatch_mult)


@dataclass(frozen=True)
class Batch:
    """One training batch: ``input_ids`` and ``attention_mask`` ``(B, T)`` long (mask 1 on tokens, 0 on padding);
    ``labels`` ``(B, L)``: float multi-hot, or a torch sparse CSR tensor from ``SPARSE_LABELS_FROM`` labels on."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to the longest one; returns ``input_ids`` and ``attention_mask``."""
    length = max((len(s) for s in sequences), default=0) or 1
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[row, : len(sequence)] = 1
    return input_ids, attention_mask


def label_batch(targets: sp.csr_matrix) -> torch.Tensor:
    """A batch's labels: dense float ``(B, L)``, or torch sparse CSR from ``SPARSE_LABELS_FROM`` labels on."""
    if targets.shape[1] >= SPARSE_LABELS_FROM:
        return csr_to_torch(targets)
    return torch.from_numpy(targets.toarray()).float()


def collate(token_ids: list[list[int]], targets: sp.csr_matrix, pad_id: int) -> Batch:
    """The :class:`Batch` of documents ``token_ids`` (unpadded id lists) with multi-hot ``targets`` ``(B, L)``."""
    input_ids, attention_mask = pad_batch(token_ids, pad_id)
    return Batch(input_ids, attention_mask, label_batch(targets))


def as_label_matrix(targets, num_docs: int, num_labels: int, argument: str) -> sp.csr_matrix:
    """``targets`` (dense or sparse, ``(num_docs, num_labels)``) as float32 CSR; ``ValueError`` naming
    ``argument`` for another shape or for values other than 0 and 1."""
    matrix = sp.csr_matrix(targets, dtype=np.float32)
    if matrix.shape != (num_docs, num_labels):
        raise ValueError(
            f"{argument} has shape {matrix.shape}; expected ({num_docs}, {num_labels}) (documents, labels)"
        )
    invalid = ~np.isin(matrix.data, (0, 1))
    if invalid.any():
        found = np.unique(matrix.data[invalid])[:5].tolist()
        raise ValueError(f"{argument} must be multi-hot (only 0 and 1); found {found}")
    return matrix


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


def epoch_rows(
    lengths: np.ndarray,
    epoch: int,
    batch_size: int,
    seed: int = 0,
    group_by_length: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> list[np.ndarray]:
    """The document rows of each batch of ``epoch`` on ``rank``: a permutation seeded by ``(seed, epoch)``.

    ``lengths[i]``: tokens of document ``i``. Each rank takes the ``rank``-th of ``world_size`` equal shards of the
    permutation (the remainder is left out of this epoch) and cuts it into batches of ``batch_size`` in order, or,
    with ``group_by_length``, into :func:`length_grouped_batches` drawn from the same generator.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).numpy()
    per_rank = len(lengths) // world_size
    shard = order[rank * per_rank : (rank + 1) * per_rank]
    if group_by_length:
        return length_grouped_batches(shard, lengths, batch_size, generator)
    return [shard[i : i + batch_size] for i in range(0, len(shard), batch_size)]


class EpochBatches:
    """The training batches of one rank, epoch by epoch: what :meth:`Trainer.fit` iterates over.

    Args:
        token_ids: each document's token ids, unpadded (``TextClassifier.tokenize``).
        targets: multi-hot ``(n, L)`` (dense or sparse).
        pad_id: the tokenizer's padding id.
        batch_size, seed, group_by_length: as in :class:`~uclaf_plugin.train.TrainConfig`.
        rank, world_size: this process's shard (``distributed.rank_and_world_size()``).

    ``len()`` is the number of batches per epoch on this rank; ``epoch(e)`` the sequence of that epoch's batches,
    collated when indexed (so a resumed run skips the finished ones without padding them).
    """

    def __init__(
        self,
        token_ids: list[list[int]],
        targets,
        pad_id: int,
        batch_size: int,
        seed: int = 0,
        group_by_length: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.token_ids = token_ids
        self.targets = sp.csr_matrix(targets, dtype=np.float32)
        if self.targets.shape[0] != len(token_ids):
            raise ValueError(f"{self.targets.shape[0]} target rows for {len(token_ids)} documents")
        self.pad_id, self.batch_size, self.seed = pad_id, batch_size, seed
        self.group_by_length, self.rank, self.world_size = group_by_length, rank, world_size
        self.lengths = np.array([len(ids) for ids in token_ids])

    @property
    def num_docs(self) -> int:
        """Documents over all ranks (for docs/s)."""
        return len(self.token_ids)

    def __len__(self) -> int:
        return -(-(self.num_docs // self.world_size) // self.batch_size)

    def rows(self, epoch: int) -> list[np.ndarray]:
        """The document rows of each batch of ``epoch`` on this rank (:func:`epoch_rows`)."""
        return epoch_rows(
            self.lengths, epoch, self.batch_size, self.seed, self.group_by_length, self.rank, self.world_size
        )

    def epoch(self, epoch: int) -> Sequence[Batch]:
        return _CollatedEpoch(self, self.rows(epoch))

    def collate(self, rows: np.ndarray) -> Batch:
        return collate([self.token_ids[i] for i in rows], self.targets[rows], self.pad_id)


class _CollatedEpoch(Sequence):
    """One epoch's batches, each collated when indexed."""

    def __init__(self, batches: EpochBatches, rows: list[np.ndarray]):
        self.batches, self.rows = batches, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Batch:
        return self.batches.collate(self.rows[index])
