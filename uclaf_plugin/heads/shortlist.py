"""Shortlisted label attention (issue 20): a cheap proposal scorer picks each document's candidate labels.

The proposal scorer is linear over the masked-mean pooled features (one ``B × d × L`` product), trained jointly
with its own BCE over all labels; the label attention and its readout then run on the top-``C`` candidates only
(AttentionXML's label tree and LightXML's dynamic negative sampling shortlist labels the same way).
"""

from __future__ import annotations

import torch
from torch import Tensor

NON_CANDIDATE_MARGIN = 1.0
"""How far below a document's lowest candidate logit (and below 0) its best non-candidate is placed."""


def shortlist_candidates(proposal: Tensor, size: int, targets: Tensor | None = None) -> Tensor:
    """Label ids ``(B, min(size, L))``: each document's ``size`` best labels by ``proposal (B, L)``.

    With multi-hot ``targets (B, L)`` (training) the true labels come first, so they are always candidates
    unless a document has more than ``size`` of them. No gradient flows through the choice.
    """
    priority = proposal.detach()
    if targets is not None:
        priority = priority.masked_fill(targets.detach() != 0, float("inf"))
    return torch.topk(priority, k=min(size, proposal.shape[1]), dim=1).indices


def merge_logits(candidate_logits: Tensor, candidates: Tensor, proposal: Tensor) -> Tensor:
    """Logits ``(B, L)`` for every label: candidates keep their logit; every non-candidate ranks below them all,
    in the order of its proposal score.

    A document's non-candidates are the proposal scores shifted (detached) so that the best one sits
    :data:`NON_CANDIDATE_MARGIN` below ``min(lowest candidate logit, 0)``: none is predicted positive at a
    threshold of 0, and ranking metrics see candidates first.
    """
    marks = torch.ones_like(
        candidates, dtype=torch.bool
    )  # a tensor, not the scalar True: ONNX export traces it
    is_candidate = torch.zeros_like(proposal, dtype=torch.bool).scatter(1, candidates, marks)
    proposal = proposal.detach().to(candidate_logits.dtype)
    best_other = proposal.masked_fill(is_candidate, float("-inf")).amax(1, keepdim=True)
    ceiling = candidate_logits.detach().amin(1, keepdim=True).clamp(max=0) - NON_CANDIDATE_MARGIN
    others = proposal - best_other.clamp(min=torch.finfo(proposal.dtype).min) + ceiling
    return others.scatter(1, candidates, candidate_logits)
