"""Label-specificity of label attention: do a document's top labels attend to different tokens?

Paper section 4.1 (and its Figure 3 discussion in 7.2) means each label to align with the parts of a text that
concern it. :func:`label_specificity` measures it on the attention of each document's two highest-scoring labels:

- ``attention_js``: mean Jensen-Shannon divergence (natural log, so in ``[0, ln 2]``) between their attention
  distributions over the document's tokens; 0 when every label attends alike;
- ``attention_argmax_differs``: the share of documents whose most-attended token differs between the two.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DIAGNOSTIC_DOCS = 256
"""Test documents the benchmark runner measures (the first ones of the test split)."""


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence in nats between distributions along the last axis of ``p`` and ``q``.

    ``0·log 0`` counts as 0; rows need not be normalised beyond what the caller guarantees (attention rows sum
    to 1). Shapes broadcast; the last axis is reduced.
    """
    middle = (p + q) / 2
    return (_kl_to(p, middle) + _kl_to(q, middle)) / 2


def _kl_to(p: Tensor, middle: Tensor) -> Tensor:
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(middle.clamp_min(1e-38))), torch.zeros_like(p))
    return terms.sum(-1)


def top2_attention_stats(attention: Tensor, logits: Tensor) -> tuple[Tensor, Tensor]:
    """Per document: JS divergence between the attention of its top-2 labels by logit, and whether their
    most-attended tokens differ.

    ``attention (N, L, T)`` (rows sum to 1 over real tokens, 0 on padding), ``logits (N, L)`` with ``L >= 2``.
    Documents without tokens (all-zero attention) are dropped. Returns ``(js (n,), differs (n,) bool)``.
    Raises ``ValueError`` on mismatched shapes or fewer than 2 labels.
    """
    if attention.dim() != 3 or logits.shape != attention.shape[:2]:
        raise ValueError(
            f"attention must be (N, L, T) and logits (N, L) for the same N, L; got attention "
            f"{tuple(attention.shape)} and logits {tuple(logits.shape)}"
        )
    if logits.shape[1] < 2:
        raise ValueError(f"label specificity compares two labels; got {logits.shape[1]} label(s)")
    top = torch.topk(logits.float(), k=2, dim=1).indices
    pair = torch.gather(attention.float(), 1, top.unsqueeze(-1).expand(-1, -1, attention.shape[2]))
    has_tokens = pair[:, 0].sum(-1) > 0
    first, second = pair[has_tokens, 0], pair[has_tokens, 1]
    return js_divergence(first, second).detach(), first.argmax(-1) != second.argmax(-1)


def label_specificity(attention: Tensor, logits: Tensor) -> dict:
    """``{"attention_js", "attention_argmax_differs", "attention_docs"}`` over documents (see the module
    docstring); the two means are NaN when no document has tokens. Shapes as :func:`top2_attention_stats`."""
    js, differs = top2_attention_stats(attention, logits)
    return _summary(js, differs)


def _summary(js: Tensor, differs: Tensor) -> dict:
    docs = len(js)
    return {
        "attention_js": float(js.mean()) if docs else math.nan,
        "attention_argmax_differs": float(differs.float().mean()) if docs else math.nan,
        "attention_docs": docs,
    }


@torch.no_grad()
def classifier_label_specificity(
    classifier, texts: list[str], *, max_docs: int = DIAGNOSTIC_DOCS, batch_size: int = 32, device="cpu"
) -> dict | None:
    """:func:`label_specificity` of a :class:`~uclaf_plugin.pipeline.TextClassifier` on the first ``max_docs``
    of ``texts`` (tokenised as in training); ``None`` unless its head is a label-attention head (LAN or dot)."""
    from .heads import DotLabelAttentionHead, LabelAttentionHead
    from .pipeline import pad_batch

    model = classifier.model
    if not isinstance(model.head, LabelAttentionHead | DotLabelAttentionHead):
        return None
    model.eval()
    ids = classifier.tokenize(list(texts[:max_docs]))
    js, differs = [], []
    for start in range(0, len(ids), batch_size):
        input_ids, mask = pad_batch(ids[start : start + batch_size], classifier.tokenizer.pad_token_id)
        output = model(input_ids.to(device), mask.to(device), return_attention=True)
        if output.logits.shape[1] < 2:
            return None
        batch_js, batch_differs = top2_attention_stats(output.attention, output.logits)
        js.append(batch_js.cpu())
        differs.append(batch_differs.cpu())
    if not js:
        return _summary(torch.zeros(0), torch.zeros(0, dtype=torch.bool))
    return _summary(torch.cat(js), torch.cat(differs))
