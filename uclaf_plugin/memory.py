"""Cross-batch memory for multi-hot labels and momentum (EMA) copies of encoders.

- :class:`MultiLabelQueue`: a ring buffer of keys and their multi-hot labels (stored as ``bool``), gathered
  from every rank under ``torch.distributed``; its state lives in buffers, so ``state_dict`` restores it.
- :class:`MultiLabelCrossBatchMemory`: PML's ``CrossBatchMemory`` for multi-hot labels and :class:`CACLLoss`.
- :func:`momentum_update`, :func:`momentum_copy`: the MoCo key encoder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist
from pytorch_metric_learning.losses import CrossBatchMemory
from torch import Tensor, nn

from .losses import candidate_mask
from .sparse_labels import ids_to_sparse, is_sparse, padded_label_ids


def _check_positive_int(value: int, name: str) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_gather_rows(*tensors: Tensor) -> list[Tensor]:
    """Concatenate every rank's rows of each tensor in rank order; ranks may hold different numbers of rows."""
    world_size = dist.get_world_size()
    count = torch.tensor([len(tensors[0])], device=tensors[0].device)
    counts = [torch.zeros_like(count) for _ in range(world_size)]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    gathered = []
    for rows in tensors:
        padded = rows.new_zeros((max(sizes), *rows.shape[1:]))
        padded[: len(rows)] = rows
        parts = [torch.empty_like(padded) for _ in range(world_size)]
        dist.all_gather(parts, padded)
        gathered.append(torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)]))
    return gathered


def _widen(ids: Tensor, width: int) -> Tensor:
    """``-1``-padded label ids widened to ``width`` columns."""
    return torch.nn.functional.pad(ids, (0, width - ids.shape[1]), value=-1) if width > ids.shape[1] else ids


LABEL_STORAGES = ("auto", "dense", "sparse")
# "auto" stores labels sparse once a dense bool label buffer would exceed this many bytes.
DENSE_LABEL_BYTES = 2**26


class MultiLabelQueue(nn.Module):
    """Ring buffer of ``size`` keys ``(dim,)`` with multi-hot labels ``(num_labels,)``.

    ``enqueue`` overwrites the oldest rows; ``embeddings`` and ``labels`` return the filled rows only.
    With ``gather=True`` (default) and ``torch.distributed`` initialized, ``enqueue`` first gathers the rows
    of every rank, so all ranks hold the same queue.

    ``label_storage``: ``"dense"`` keeps a ``(size, num_labels)`` bool buffer (``key_labels``) and ``labels``
    is dense; ``"sparse"`` keeps each row's label ids (``key_label_ids``, ``-1``-padded to the most labels a
    row had so far) and ``labels`` is a bool sparse COO tensor, so memory follows the labels present, not
    ``num_labels``; ``"auto"`` (default) is dense while the dense buffer stays under 64 MiB. ``enqueue``
    takes dense or torch sparse (COO/CSR) labels either way.
    """

    def __init__(
        self, size: int, dim: int, num_labels: int, gather: bool = True, label_storage: str = "auto"
    ):
        super().__init__()
        for value, name in ((size, "size"), (dim, "dim"), (num_labels, "num_labels")):
            _check_positive_int(value, name)
        if label_storage not in LABEL_STORAGES:
            raise ValueError(
                f"label_storage={label_storage!r} is unknown; choose one of {list(LABEL_STORAGES)}"
            )
        if label_storage == "auto":
            label_storage = "sparse" if size * num_labels > DENSE_LABEL_BYTES else "dense"
        self.gather = gather
        self.num_labels = num_labels
        self.sparse_labels = label_storage == "sparse"
        self.register_buffer("keys", torch.zeros(size, dim))
        if self.sparse_labels:
            self.register_buffer("key_label_ids", torch.full((size, 1), -1, dtype=torch.long))
        else:
            self.register_buffer("key_labels", torch.zeros(size, num_labels, dtype=torch.bool))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self._filled_on_host = 0  # the buffer's value, kept here so that a step never reads the device

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    def __len__(self) -> int:
        return self._filled_on_host

    @property
    def embeddings(self) -> Tensor:
        """The stored keys, ``(n, dim)``."""
        return self.keys[: len(self)]

    @property
    def labels(self) -> Tensor:
        """The stored labels, ``(n, num_labels)`` bool (a sparse COO tensor with ``label_storage="sparse"``)."""
        if self.sparse_labels:
            return ids_to_sparse(self.key_label_ids[: len(self)], self.num_labels)
        return self.key_labels[: len(self)]

    def _check_rows(self, keys: Tensor, labels: Tensor) -> None:
        if keys.ndim != 2 or keys.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must have shape (n, {self.keys.shape[1]}), got {tuple(keys.shape)}")
        if tuple(labels.shape) != (len(keys), self.num_labels):
            raise ValueError(
                f"labels must be multi-hot of shape ({len(keys)}, {self.num_labels}), "
                f"got {tuple(labels.shape)}"
            )
        if not is_sparse(labels) and labels.dtype != torch.bool and ((labels != 0) & (labels != 1)).any():
            raise ValueError("labels must be multi-hot (only 0 and 1)")

    def _stored_rows(self, labels: Tensor) -> Tensor:
        """``labels`` as this queue stores them: dense bool rows, or ``-1``-padded label ids."""
        labels = labels.to(self.keys.device)
        if self.sparse_labels:
            return padded_label_ids(labels)
        return labels.to_dense().bool() if is_sparse(labels) else labels.bool()

    def _gather(self, keys: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        if self.sparse_labels:  # every rank pads its label ids to the widest row of any rank
            width = torch.tensor(rows.shape[1], device=rows.device)
            dist.all_reduce(width, op=dist.ReduceOp.MAX)
            rows = _widen(rows, int(width))
        keys, rows = _all_gather_rows(keys, rows.to(torch.uint8) if rows.dtype == torch.bool else rows)
        return keys, rows.bool() if not self.sparse_labels else rows

    @torch.no_grad()
    def enqueue(self, keys: Tensor, labels: Tensor) -> Tensor:
        """Add rows (detached); return the slot each kept row went to (the newest ``size`` rows are kept)."""
        self._check_rows(keys, labels)
        keys, rows = keys.detach().to(self.keys.device), self._stored_rows(labels)
        if self.gather and _is_distributed():
            keys, rows = self._gather(keys, rows)
        keys, rows = keys[-self.size :], rows[-self.size :]
        slots = (self.pointer + torch.arange(len(keys), device=keys.device)) % self.size
        self.keys[slots] = keys.to(self.keys.dtype)
        if self.sparse_labels:
            self.key_label_ids = _widen(self.key_label_ids, rows.shape[1])
            self.key_label_ids[slots] = _widen(rows, self.key_label_ids.shape[1])
        else:
            self.key_labels[slots] = rows
        self.pointer.copy_((self.pointer + len(keys)) % self.size)
        self._filled_on_host = min(self._filled_on_host + len(keys), self.size)
        self.filled.fill_(self._filled_on_host)
        return slots

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Take the saved queue's label-id width (it grows with the widest row enqueued) and its row count."""
        saved = state_dict.get(prefix + "key_label_ids")
        if self.sparse_labels and saved is not None and saved.ndim == 2:
            self.key_label_ids = self.key_label_ids.new_full(saved.shape, -1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        saved_filled = state_dict.get(prefix + "filled")
        if saved_filled is not None:
            self._filled_on_host = int(saved_filled)


def _rank_order(num_rows: int, device: torch.device) -> Tensor:
    """Rows of a batch gathered by PML's ``DistributedLossWrapper``, put back in rank order.

    The wrapper concatenates this rank's rows first, then the other ranks' in rank order (PML issue #639). Outside
    ``torch.distributed``, or when the rows cannot be equal blocks from every rank, the order is unchanged.
    """
    rows = torch.arange(num_rows, device=device)
    if not _is_distributed() or num_rows % dist.get_world_size():
        return rows
    world_size, rank = dist.get_world_size(), dist.get_rank()
    blocks = rows.view(world_size, -1)  # block 0: this rank; then ranks 0..world_size-1 without this one
    senders = [rank, *(other for other in range(world_size) if other != rank)]
    return blocks[[senders.index(sender) for sender in range(world_size)]].reshape(-1)


def _in_rank_order(embeddings, labels, indices_tuple, enqueue_mask):
    """The batch in :func:`_rank_order`, with ``indices_tuple``'s anchors renumbered to match."""
    order = _rank_order(len(embeddings), embeddings.device)
    if torch.equal(order, torch.arange(len(order), device=order.device)):
        return embeddings, labels, indices_tuple, enqueue_mask
    if indices_tuple is not None:
        position = torch.empty_like(order)
        position[order] = torch.arange(len(order), device=order.device)
        anchors = (0, 2) if len(indices_tuple) == 4 else (0,)
        indices_tuple = tuple(
            position[part.to(order.device)] if i in anchors else part for i, part in enumerate(indices_tuple)
        )
    mask = enqueue_mask[order] if enqueue_mask is not None else None
    return embeddings[order], labels.index_select(0, order), indices_tuple, mask


class MultiLabelCrossBatchMemory(CrossBatchMemory):
    """PML's ``CrossBatchMemory`` for multi-hot labels, wrapping a :class:`~uclaf_plugin.CACLLoss`.

    ``forward(embeddings, labels, indices_tuple=None, enqueue_mask=None)``: the batch (or the rows selected
    by ``enqueue_mask``) enters the memory first; the anchors (the batch, or the rows not enqueued) are then
    compared with the whole memory, leaving out each anchor's own slot. A ``miner(embeddings, labels,
    ref_emb, ref_labels)`` may pick candidate pairs, as in PML. Memory rows are detached. Under DDP wrap it in
    PML's ``DistributedLossWrapper``, which gathers the batches of all ranks first. That wrapper puts the own
    rank's rows first (PML issue #639); under ``torch.distributed`` a batch of equal blocks from every rank enters
    the memory in rank order instead, so every rank holds the same memory, in the same slots, and computes the
    same loss, whatever ``memory_size``.
    """

    def __init__(
        self,
        loss: nn.Module,
        embedding_size: int,
        num_labels: int,
        memory_size: int = 1024,
        miner: Callable | None = None,
    ):
        _check_positive_int(num_labels, "num_labels")
        self.num_labels = num_labels  # read by reset_queue(), which CrossBatchMemory.__init__ calls
        super().__init__(loss, embedding_size, memory_size=memory_size, miner=miner)

    @staticmethod
    def supported_losses() -> list[str]:
        return ["CACLLoss"]

    @classmethod
    def check_loss_support(cls, loss_name: str) -> None:
        if loss_name not in cls.supported_losses():
            raise ValueError(
                f"loss must be one of {cls.supported_losses()} (multi-hot labels), got {loss_name}"
            )

    def reset_queue(self) -> None:
        """Empty the memory."""
        self.queue = MultiLabelQueue(self.memory_size, self.embedding_size, self.num_labels, gather=False)

    @property
    def queue_idx(self) -> int:
        return int(self.queue.pointer)

    @property
    def has_been_filled(self) -> bool:
        return len(self.queue) == self.memory_size

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor,
        indices_tuple: tuple[Tensor, ...] | None = None,
        enqueue_mask: Tensor | None = None,
    ) -> Tensor:
        if indices_tuple is not None and enqueue_mask is not None:
            raise ValueError("indices_tuple and enqueue_mask are mutually exclusive")
        self.reset_stats()
        self.queue.to(embeddings.device)
        labels = labels.to(embeddings.device)
        if enqueue_mask is not None:
            if enqueue_mask.shape != (len(embeddings),):
                raise ValueError(
                    f"enqueue_mask must have shape ({len(embeddings)},), got {tuple(enqueue_mask.shape)}"
                )
            enqueue_mask = enqueue_mask.to(embeddings.device).bool()
        embeddings, labels, indices_tuple, enqueue_mask = _in_rank_order(
            embeddings, labels, indices_tuple, enqueue_mask
        )
        if enqueue_mask is not None:
            self.queue.enqueue(embeddings[enqueue_mask], labels[enqueue_mask])
            embeddings, labels, own_slots = embeddings[~enqueue_mask], labels[~enqueue_mask], None
        elif len(embeddings) > self.memory_size:
            raise ValueError(f"batch of {len(embeddings)} is larger than memory_size={self.memory_size}")
        else:
            own_slots = self.queue.enqueue(embeddings, labels)
        ref_emb, ref_labels = self.queue.embeddings.to(embeddings.dtype), self.queue.labels
        pairs = self._candidate_pairs(embeddings, labels, ref_emb, ref_labels, indices_tuple, own_slots)
        return self.loss(embeddings, labels, pairs, ref_emb, ref_labels)

    def _candidate_pairs(
        self,
        embeddings: Tensor,
        labels: Tensor,
        ref_emb: Tensor,
        ref_labels: Tensor,
        indices_tuple: tuple[Tensor, ...] | None,
        own_slots: Tensor | None,
    ) -> tuple[Tensor, ...] | None:
        """Candidate pairs for the loss (as positive pairs of a PML tuple), or ``None`` for all of them."""
        mined = self.miner(embeddings, labels, ref_emb, ref_labels) if self.miner else None
        if mined is None and own_slots is None:
            return None
        shape = (len(embeddings), len(ref_emb))
        mask = candidate_mask(*shape, embeddings.device, mined)
        if mask is None:
            mask = torch.ones(shape, dtype=torch.bool, device=embeddings.device)
        if own_slots is not None:
            mask[torch.arange(len(own_slots), device=mask.device), own_slots] = False
        if indices_tuple is not None:
            mask |= candidate_mask(*shape, embeddings.device, indices_tuple)
        anchors, refs = mask.nonzero(as_tuple=True)
        return anchors, refs, anchors[:0], refs[:0]


def _paired(
    target: Iterable[tuple[str, Tensor]], source: Iterable[tuple[str, Tensor]], kind: str
) -> list[tuple[Tensor, Tensor]]:
    """Matching ``(target, source)`` tensors by name; ``ValueError`` when names or shapes differ."""
    target, source = dict(target), dict(source)
    if target.keys() != source.keys():
        raise ValueError(f"target and source have different {kind}: {sorted(target.keys() ^ source.keys())}")
    for name, tensor in target.items():
        if tensor.shape != source[name].shape:
            raise ValueError(
                f"{kind} {name!r} has shape {tuple(tensor.shape)} in target "
                f"but {tuple(source[name].shape)} in source"
            )
    return [(tensor, source[name]) for name, tensor in target.items()]


@torch.no_grad()
def momentum_update(target: nn.Module, source: nn.Module, m: float = 0.999) -> None:
    """EMA step ``θ_target ← m·θ_target + (1−m)·θ_source`` for parameters; buffers are copied."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"m must be in [0, 1], got {m}")
    pairs = _paired(target.named_parameters(), source.named_parameters(), "parameters")
    if pairs:  # one fused call: a loop of lerp_ launches one kernel per tensor on a GPU
        targets = [tgt for tgt, _ in pairs]
        torch._foreach_lerp_(targets, [src.detach().to(tgt.dtype) for tgt, src in pairs], 1.0 - m)
    for tgt, src in _paired(target.named_buffers(), source.named_buffers(), "buffers"):
        tgt.copy_(src)


def momentum_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose parameters do not require gradients (a MoCo key encoder)."""
    twin = copy.deepcopy(module)
    twin.requires_grad_(False)
    return twin


__all__ = ["MultiLabelCrossBatchMemory", "MultiLabelQueue", "momentum_copy", "momentum_update"]
