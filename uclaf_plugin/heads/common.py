"""Input checks and helpers shared by the heads: masks, masked pooling and softmax, the label-chunk budget."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

CHUNK_BUDGET_BYTES = 256 * 2**20
"""Memory allowed for the per-chunk intermediate when ``label_chunk_size=None`` (the automatic chunk size)."""

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
POOLINGS = ("mean", "cls", "max")


@dataclass(frozen=True)
class HeadOutput:
    """What every head's ``forward(features, mask, return_attention=False)`` returns.

    Attributes:
        logits: ``(B, L)`` label scores before the sigmoid.
        attention: ``(B, L, T)`` label-wise attention over the tokens (each row sums to 1 over the real tokens, 0 on
            padding and for an empty document; 0 rows for a shortlisted head's non-candidate labels), or ``None``:
            filled only when the head was called with ``return_attention=True`` and has label-wise attention
            (:class:`~uclaf_plugin.heads.LabelAttentionHead`, :class:`~uclaf_plugin.heads.DotLabelAttentionHead`),
            so training never keeps a ``(B, L, T)`` map it does not need.
    """

    logits: Tensor
    attention: Tensor | None = None


# ---------------------------------------------------------------- input checks and shared helpers


def _check_features(features: Tensor, input_dim: int | None = None) -> None:
    width = "d" if input_dim is None else str(input_dim)
    if features.dim() != 3 or (input_dim is not None and features.shape[-1] != input_dim):
        raise ValueError(f"features must have shape (batch, tokens, {width}); got {tuple(features.shape)}")


def _bool_mask(features: Tensor, mask: Tensor | None) -> Tensor:
    """The mask as bool ``(B, T)``; all True when ``mask`` is None."""
    if mask is None:
        return torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
    if mask.shape != features.shape[:2]:
        raise ValueError(
            f"mask must have shape (batch, tokens) = {tuple(features.shape[:2])} to match features; "
            f"got {tuple(mask.shape)}"
        )
    return mask if mask.dtype == torch.bool else mask != 0


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and (not isinstance(value, numbers.Integral) or value < 1):
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def auto_label_chunk_size(
    num_labels: int, bytes_per_label: int, budget_bytes: int = CHUNK_BUDGET_BYTES
) -> int:
    """Largest number of labels whose intermediate (``bytes_per_label`` each) fits in ``budget_bytes``."""
    return max(1, min(num_labels, budget_bytes // max(1, bytes_per_label)))


def masked_mean_pool(features: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of ``features (B, T, d)`` over the real tokens of each row -> ``(B, d)``; an empty row gives 0."""
    _check_features(features)
    weights = _bool_mask(features, mask).to(features.dtype).unsqueeze(-1)
    return (features * weights).sum(1) / weights.sum(1).clamp_min(1)


def standardize_features(pooled: Tensor, norm: nn.BatchNorm1d | None, training: bool) -> Tensor:
    """Standardise each column of ``pooled (B, d)`` with ``norm`` (a ``BatchNorm1d(d, affine=False)``; ``None``
    returns ``pooled``): batch statistics when ``training`` with more than one row (which also update the running
    ones), the running statistics otherwise (eval, or a batch of one)."""
    if norm is None:
        return pooled
    return F.batch_norm(
        pooled,
        norm.running_mean,
        norm.running_var,
        training=training and pooled.shape[0] > 1,
        momentum=norm.momentum,
        eps=norm.eps,
    )


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``scores (B, L, T)`` over tokens (in float32 at least), padding excluded.

    A document without tokens gets all zeros.
    """
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
    padding = ~mask.unsqueeze(1)
    empty = padding.all(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(padding, float("-inf")).masked_fill(empty, 0.0), dim=-1)
    return weights.masked_fill(empty, 0.0)


def log_prior_odds(train_targets, num_labels: int) -> Tensor:
    """``log(p / (1 - p))`` per label ``(L,)``, float32: ``p`` each label's share of positives in ``train_targets``
    ``(n, L)`` (multi-hot; dense or scipy sparse), clipped to ``[1 / 2n, 1 - 1 / 2n]`` so a label without a
    positive (or without a negative) gets a finite value. The prior-probability bias start of Lin et al. 2017
    (focal loss, §4.1). Raises ``ValueError`` when ``train_targets`` is empty or not ``num_labels`` wide."""
    n, width = train_targets.shape
    if width != num_labels or n == 0:
        raise ValueError(f"train_targets must be (n >= 1, {num_labels}); got {tuple(train_targets.shape)}")
    positives = torch.as_tensor(np.asarray(train_targets.sum(0), dtype=np.float64).ravel())
    return clipped_log_odds(positives / n, n)


def clipped_log_odds(share: Tensor, n: int) -> Tensor:
    """``log(p / (1 - p))`` in float32 of shares ``p`` counted over ``n`` items, ``p`` clipped to
    ``[1 / 2n, 1 - 1 / 2n]`` so that 0 and 1 give finite values."""
    share = share.clamp(1 / (2 * n), 1 - 1 / (2 * n))
    return torch.log(share / (1 - share)).float()
