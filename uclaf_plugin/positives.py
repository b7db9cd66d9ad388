"""Who is a positive of whom: positive definitions for the CACL loss.

Every definition maps multi-hot anchor labels ``(B, L)`` and reference labels ``(N, L)`` (both ``bool``) to
either

- a :class:`LabelPositives`, for definitions with one positive set per anchor label (``per_label``,
  the CACL loss of the paper): the loss averages over each label's positives, then sums over labels; or
- a ``(B, N)`` float weight matrix ``w_ia`` (``any``, ``all``, ``jaccard``): the loss is the
  ``w``-weighted mean of the log-probabilities of the references.

Add your own with :func:`register_positive`; the loss looks definitions up by name in :data:`POSITIVES`.
All definitions are vectorized: matrix products over the labels, no loops over anchors or labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# Integer label counts are exact in float32 up to 2**24 labels.
_COUNT_DTYPE = torch.float32
# Up to this many label columns, the positives use every column: dropping the columns no anchor has would save
# less than the device read (a host synchronisation on GPU) that finding them costs. The result is the same.
COMPACT_COLUMNS_ABOVE = 512


@dataclass(frozen=True)
class LabelPositives:
    """Per-label positive sets over ``L'`` label columns (``per_label`` keeps the columns some anchor has).

    ``anchor_labels[i, j]`` says anchor ``i`` has label ``j``; reference ``a`` is a positive of ``(i, j)``
    when ``ref_labels[a, j]`` is set. Both are ``bool``, shapes ``(B, L')`` and ``(N, L')``.
    """

    anchor_labels: Tensor
    ref_labels: Tensor


PositiveFn = Callable[[Tensor, Tensor], "Tensor | LabelPositives"]


def _columns_of_anchors(labels: Tensor, ref_labels: Tensor) -> tuple[Tensor, Tensor]:
    """Keep only the label columns at least one anchor has (above ``COMPACT_COLUMNS_ABOVE`` columns); the others
    cannot make a positive."""
    if labels.shape[1] <= COMPACT_COLUMNS_ABOVE:
        return labels, ref_labels
    present = labels.any(dim=0)
    if bool(present.all()):  # e.g. sparse labels already compacted to the anchors' columns
        return labels, ref_labels
    columns = present.nonzero().squeeze(1)
    return labels[:, columns], ref_labels[:, columns]


def _set_sizes(labels: Tensor) -> Tensor:
    """``|Y_i|`` per row, as float32.

    Summed in blocks of about 2**18 entries: a ``bool`` sum makes an int64 copy of its input, and on CPU one
    large copy of a wide label matrix costs far more than many small ones.
    """
    rows = max(1, 2**18 // max(1, labels.shape[1]))
    return torch.cat([block.sum(dim=1) for block in labels.split(rows)]).to(_COUNT_DTYPE)


def _intersections(labels: Tensor, ref_labels: Tensor) -> Tensor:
    """``|Y_i ∩ R_a|`` as a ``(B, N)`` float matrix."""
    anchors, refs = _columns_of_anchors(labels, ref_labels)
    return anchors.to(_COUNT_DTYPE) @ refs.to(_COUNT_DTYPE).T


def per_label(labels: Tensor, ref_labels: Tensor) -> LabelPositives:
    """CACL (paper eq. 11): for each label ``j`` of anchor ``i``, the references that have ``j``."""
    return LabelPositives(*_columns_of_anchors(labels, ref_labels))


def any_label(labels: Tensor, ref_labels: Tensor) -> Tensor:
    """Weight 1 for references sharing at least one label with the anchor."""
    return (_intersections(labels, ref_labels) > 0).to(_COUNT_DTYPE)


def all_labels(labels: Tensor, ref_labels: Tensor) -> Tensor:
    """Weight 1 for references whose label set equals the anchor's (non-empty) label set."""
    inter = _intersections(labels, ref_labels)
    anchor_sizes = _set_sizes(labels)[:, None]
    same = (inter == anchor_sizes) & (inter == _set_sizes(ref_labels)) & (anchor_sizes > 0)
    return same.to(_COUNT_DTYPE)


def jaccard(labels: Tensor, ref_labels: Tensor) -> Tensor:
    """Weight ``|Y_i ∩ R_a| / |Y_i ∪ R_a|`` (0 when both label sets are empty)."""
    inter = _intersections(labels, ref_labels)
    union = _set_sizes(labels)[:, None] + _set_sizes(ref_labels) - inter
    return inter / union.clamp(min=1)


POSITIVES: dict[str, PositiveFn] = {
    "per_label": per_label,
    "any": any_label,
    "all": all_labels,
    "jaccard": jaccard,
}


def register_positive(name: str, fn: PositiveFn) -> None:
    """Make ``fn`` available to the loss as ``positives=name``.

    ``fn(labels (B, L) bool, ref_labels (N, L) bool)`` returns a ``(B, N)`` weight matrix (non-negative) or a
    :class:`LabelPositives`.
    """
    if not callable(fn):
        raise ValueError(f"register_positive: fn for {name!r} must be callable, got {type(fn).__name__}")
    POSITIVES[name] = fn


def get_positive(name: str) -> PositiveFn:
    """The positive definition registered as ``name``; ``ValueError`` lists the valid names otherwise."""
    if name not in POSITIVES:
        raise ValueError(f"positives={name!r} is unknown; choose one of {sorted(POSITIVES)}")
    return POSITIVES[name]
