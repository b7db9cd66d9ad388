"""Classification heads: token features ``(B, T, d)`` and a padding mask ``(B, T)`` -> logits ``(B, L)``.

- :class:`LabelAttentionHead` (LAN): additive label attention (paper section 4.1; ``scoring`` picks the paper's
  score or a label-aware variant); labels are scored chunk by chunk and the
  backward pass recomputes each chunk, so memory stays ``O(B·T·chunk·a)`` instead of ``O(B·T·L·a)``.
- :class:`DotLabelAttentionHead`: CAML / AttentionXML dot-product label attention.
- :class:`LinearHead`: masked pooling then a linear layer.
- :class:`XMLCNNHead`: XML-CNN's dynamic max pooling and bottleneck (Liu et al. 2017).
- :class:`AttentionXMLHead`: AttentionXML's label-wise attention over a shortlist of label clusters (You et al. 2019).

All are called the same way, ``head(features, mask=None, return_attention=False)``, and return a
:class:`HeadOutput`: ``logits (B, L)`` and ``attention (B, L, T)``, zero on padding, filled only with
``return_attention=True`` (always ``None`` for :class:`LinearHead` and :class:`XMLCNNHead`, which have none). ``mask`` is bool or 0/1
numbers; non-zero marks a real token.
"""

from __future__ import annotations

from torch import nn

from .attentionxml import AttentionXMLHead
from .common import (
    CHUNK_BUDGET_BYTES,
    HeadOutput,
    auto_label_chunk_size,
    masked_mean_pool,
    masked_softmax,
)
from .lan import DEFAULT_SCORING, SCORINGS, LabelAttentionHead
from .scores import additive_attention_scores, label_token_scores
from .simple import DotLabelAttentionHead, LinearHead
from .xmlcnn import XMLCNNHead

__all__ = [
    "CHUNK_BUDGET_BYTES",
    "DEFAULT_SCORING",
    "HEADS",
    "SCORINGS",
    "AttentionXMLHead",
    "DotLabelAttentionHead",
    "HeadOutput",
    "LabelAttentionHead",
    "LinearHead",
    "XMLCNNHead",
    "additive_attention_scores",
    "auto_label_chunk_size",
    "build_head",
    "label_token_scores",
    "masked_mean_pool",
    "masked_softmax",
]

HEADS = {
    "lan": LabelAttentionHead,
    "dot": DotLabelAttentionHead,
    "linear": LinearHead,
    "xmlcnn": XMLCNNHead,
    "attentionxml": AttentionXMLHead,
}


def build_head(name: str, input_dim: int, num_labels: int, **kwargs) -> nn.Module:
    """A head by name: ``"lan"`` (LabelAttentionHead), ``"dot"`` (DotLabelAttentionHead), ``"linear"``,
    ``"xmlcnn"`` (XMLCNNHead) or ``"attentionxml"`` (AttentionXMLHead); ``ValueError`` for another name."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid names: {sorted(HEADS)}")
    return HEADS[name](input_dim, num_labels, **kwargs)
