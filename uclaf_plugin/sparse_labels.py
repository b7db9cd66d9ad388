"""Sparse multi-hot labels: torch sparse COO/CSR tensors and scipy CSR matrices, never a dense ``(N, L)``.

With hundreds of thousands of labels (EURLex's full descriptor set, Amazon-670K) a dense ``(N, L)`` label matrix
of a 4,096-key memory is gigabytes, yet each document has a handful of labels. The CACL loss only ever needs the
label columns some row has (a label no anchor and no reference has makes no positive and changes no set size),
so :func:`compact_label_columns` keeps those columns and hands the loss small dense matrices; its cost follows
the active labels, not ``L``. The BCE over all ``L`` logits needs only the logits at the true labels
(:func:`multi_hot_bce`), and the queue stores each row's label ids (:func:`padded_label_ids`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

SPARSE_LAYOUTS = (torch.sparse_coo, torch.sparse_csr)
# From this many labels on, the trainer hands the model sparse label batches.
SPARSE_LABELS_FROM = 20_000


def is_sparse(labels) -> bool:
    """Whether ``labels`` is a torch sparse COO/CSR tensor."""
    return torch.is_tensor(labels) and labels.layout in SPARSE_LAYOUTS


def label_coordinates(labels: Tensor, name: str = "labels") -> tuple[Tensor, Tensor]:
    """``(rows, columns)`` of the set entries of a 2-D multi-hot tensor (dense, COO or CSR), row-major order.

    Raises ``ValueError`` naming ``name`` when a stored value is not 0 or 1 (explicit zeros are dropped).
    """
    if labels.layout == torch.sparse_csr:
        crow, columns, values = labels.crow_indices(), labels.col_indices(), labels.values()
        rows = torch.repeat_interleave(torch.arange(labels.shape[0], device=columns.device), crow.diff())
    elif labels.layout == torch.sparse_coo:
        labels = labels.coalesce()
        (rows, columns), values = labels.indices(), labels.values()
    else:
        rows, columns = labels.nonzero(as_tuple=True)
        values = labels[rows, columns]
    if values.dtype != torch.bool and ((values != 0) & (values != 1)).any():
        raise ValueError(f"{name} must be multi-hot (only 0 and 1)")
    keep = values != 0
    return (rows, columns) if bool(keep.all()) else (rows[keep], columns[keep])


def _scatter_columns(rows: Tensor, columns: Tensor, kept: Tensor, num_rows: int) -> Tensor:
    """Dense ``(num_rows, len(kept))`` bool matrix of the entries whose column is in the sorted ``kept``."""
    matrix = torch.zeros(num_rows, len(kept), dtype=torch.bool, device=kept.device)
    if len(kept) and len(columns):
        position = torch.searchsorted(kept, columns).clamp(max=len(kept) - 1)
        found = kept[position] == columns
        matrix[rows[found], position[found]] = True
    return matrix


def compact_label_columns(
    labels: Tensor, ref_labels: Tensor, anchor_columns_only: bool = False
) -> tuple[Tensor, Tensor]:
    """Dense bool ``(B, L')`` and ``(N, L')`` over the label columns set in some row, in label order.

    ``labels`` ``(B, L)`` and ``ref_labels`` ``(N, L)``: multi-hot, each dense or sparse (COO/CSR).
    ``anchor_columns_only`` keeps only the columns some anchor has (enough for ``per_label`` and ``any``);
    otherwise every column set in either matrix is kept, so set sizes ``|R_a|`` stay exact. Set-based positive
    definitions give the same result on the compacted matrices as on the full ones.
    """
    anchor_rows, anchor_columns = label_coordinates(labels, "labels")
    ref_rows, ref_columns = label_coordinates(ref_labels, "ref_labels")
    ref_rows, ref_columns = ref_rows.to(anchor_columns.device), ref_columns.to(anchor_columns.device)
    kept = anchor_columns if anchor_columns_only else torch.cat([anchor_columns, ref_columns])
    kept = torch.unique(kept)
    return (
        _scatter_columns(anchor_rows, anchor_columns, kept, labels.shape[0]),
        _scatter_columns(ref_rows, ref_columns, kept, ref_labels.shape[0]),
    )


def multi_hot_bce(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean binary cross-entropy with logits over all ``B·L`` entries; ``labels`` dense or sparse.

    Sparse: ``Σ softplus(x) − Σ_{(i,j)∈Y} x_ij``, divided by ``B·L`` (equal to
    ``F.binary_cross_entropy_with_logits``), without a dense ``(B, L)`` target.
    """
    if not is_sparse(labels):
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    if labels.shape != logits.shape:
        raise ValueError(f"labels have shape {tuple(labels.shape)} but logits {tuple(logits.shape)}")
    rows, columns = label_coordinates(labels)
    true_logits = logits[rows.to(logits.device), columns.to(logits.device)]
    return (F.softplus(logits).sum() - true_logits.sum()) / logits.numel()


def stack_label_rows(top: Tensor, bottom: Tensor) -> Tensor:
    """Rows of ``top`` then ``bottom`` (same ``L``); sparse (COO) if either is, else dense as ``torch.cat``."""
    if not (is_sparse(top) or is_sparse(bottom)):
        return torch.cat([top, bottom.to(top.dtype)])
    parts = [part if part.layout == torch.sparse_coo else part.to_sparse_coo() for part in (top, bottom)]
    return torch.cat([part.to(torch.bool) for part in parts]).coalesce()


def padded_label_ids(labels: Tensor, name: str = "labels") -> Tensor:
    """``(B, w)`` long label ids of each row, ``-1`` padded; ``w`` = the most labels in a row (at least 1)."""
    rows, columns = label_coordinates(labels, name)
    counts = torch.bincount(rows, minlength=labels.shape[0])
    width = max(1, int(counts.max())) if len(counts) else 1
    ids = torch.full((labels.shape[0], width), -1, dtype=torch.long, device=columns.device)
    starts = torch.cumsum(counts, 0) - counts
    ids[rows, torch.arange(len(rows), device=rows.device) - starts[rows]] = columns
    return ids


def ids_to_sparse(ids: Tensor, num_labels: int) -> Tensor:
    """The ``(n, num_labels)`` bool COO tensor of ``-1``-padded label ids (the inverse of :func:`padded_label_ids`)."""
    keep = ids >= 0
    rows = torch.arange(len(ids), device=ids.device)[:, None].expand_as(ids)[keep]
    indices = torch.stack([rows, ids[keep]])
    values = torch.ones(indices.shape[1], dtype=torch.bool, device=ids.device)
    return torch.sparse_coo_tensor(indices, values, (len(ids), num_labels)).coalesce()


def csr_to_torch(matrix: sp.csr_matrix) -> Tensor:
    """A scipy CSR matrix as a float32 torch sparse CSR tensor (no dense copy)."""
    matrix = sp.csr_matrix(matrix)
    return torch.sparse_csr_tensor(
        torch.from_numpy(matrix.indptr.astype(np.int64)),
        torch.from_numpy(matrix.indices.astype(np.int64)),
        torch.from_numpy(matrix.data.astype(np.float32)),
        matrix.shape,
    )


__all__ = [
    "SPARSE_LABELS_FROM",
    "compact_label_columns",
    "csr_to_torch",
    "ids_to_sparse",
    "is_sparse",
    "label_coordinates",
    "multi_hot_bce",
    "padded_label_ids",
    "stack_label_rows",
]
