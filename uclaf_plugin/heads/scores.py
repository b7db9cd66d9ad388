"""Label × token attention scores ``s[k, n] = v_kᵀ tanh(labels[k] ∘ tokens[n])``, label chunk by label chunk.

``∘`` is ``+`` (additive attention, paper eq. 2) or ``⊙`` (a multiplicative label-token interaction); ``v`` is
one scoring vector ``(a,)`` shared by every label (the paper) or one per label ``(L, a)``. Forward and backward
hold one ``(chunk, N, a)`` block at a time; backward recomputes it instead of storing it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .common import _check_positive, auto_label_chunk_size

INTERACTIONS = ("add", "mul")


def _sigmoid_chunks(tokens: Tensor, labels: Tensor, chunk_size: int, interaction: str):
    """Yield ``(start, σ(2·(labels[..., start:start+n, None, :] ∘ tokens[..., None, :, :])))`` as
    ``(..., n, N, a)``, reusing one buffer."""
    # 2·(l + t) = 2l + 2t; 2·(l ⊙ t) = l ⊙ 2t
    combine, labels = (torch.add, 2 * labels) if interaction == "add" else (torch.mul, labels)
    tokens2 = (2 * tokens).unsqueeze(-3)
    batch_shape, (num_tokens, dim) = tokens.shape[:-2], tokens.shape[-2:]
    block_numel = batch_shape.numel() * num_tokens * dim
    buffer = tokens.new_empty(min(chunk_size, labels.shape[-2]) * block_numel)
    for start in range(0, labels.shape[-2], chunk_size):
        block = labels[..., start : start + chunk_size, :]
        out = buffer[: block.shape[-2] * block_numel].view(*batch_shape, block.shape[-2], num_tokens, dim)
        yield start, combine(tokens2, block.unsqueeze(-2), out=out).sigmoid_()


class _LabelTokenScores(torch.autograd.Function):
    """``s[..., k, n] = v_k · tanh(labels[..., k, :] ∘ tokens[..., n, :])``, label chunk by label chunk,
    recomputed in backward; optional leading batch dimensions are shared by tokens, labels and a per-label v.

    Uses ``tanh(x) = 2σ(2x) − 1`` (sigmoid is 2-3x cheaper than tanh on CPU), so ``s = 2 v·σ(2x) − Σv`` and
    ``∂tanh/∂x = 4 σ(1 − σ)``. With a shared ``v`` the factor ``4v`` is applied once to the summed gradients.
    """

    @staticmethod
    def forward(ctx, tokens: Tensor, labels: Tensor, v: Tensor, chunk_size: int, interaction: str) -> Tensor:
        ctx.save_for_backward(tokens, labels, v)
        ctx.chunk_size, ctx.interaction = chunk_size, interaction
        scores = tokens.new_empty(*labels.shape[:-1], tokens.shape[-2])
        per_label = v.dim() == labels.dim()
        with torch.autocast(tokens.device.type, enabled=False):
            for start, squashed in _sigmoid_chunks(tokens, labels, chunk_size, interaction):
                stop = start + squashed.shape[-3]
                weight = 2 * v[..., start:stop, :].unsqueeze(-2) if per_label else 2 * v
                # a row-wise sum, unlike a matrix-vector product, is bit-identical for every chunk size
                torch.sum(squashed.mul_(weight), -1, out=scores[..., start:stop, :])
            scores -= v.sum(-1, keepdim=True) if per_label else v.sum()
        return scores

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_scores: Tensor):
        tokens, labels, v = ctx.saved_tensors
        need_tokens, need_labels, need_v, _, _ = ctx.needs_input_grad
        per_label, multiply = v.dim() == labels.dim(), ctx.interaction == "mul"
        grad_scores = grad_scores.contiguous()
        grad_tokens = torch.zeros_like(tokens) if need_tokens else None
        grad_labels = torch.empty_like(labels) if need_labels else None
        grad_v = torch.zeros_like(v) if need_v else None
        with torch.autocast(tokens.device.type, enabled=False):
            for start, squashed in _sigmoid_chunks(tokens, labels, ctx.chunk_size, ctx.interaction):
                stop = start + squashed.shape[-3]
                grad = grad_scores[..., start:stop, :]
                if need_v and per_label:
                    grad_v[..., start:stop, :] = (
                        torch.matmul(grad.unsqueeze(-2), squashed).squeeze(-2).mul_(2)
                    )
                elif need_v:
                    grad_v.addmv_(squashed.view(-1, v.shape[-1]).t(), grad.reshape(-1), alpha=2)
                if not (need_tokens or need_labels):
                    continue
                # in place: squashed <- grad · σ(1 − σ) [· v_k]
                torch.ops.aten.sigmoid_backward.grad_input(
                    grad.unsqueeze(-1).expand_as(squashed), squashed, grad_input=squashed
                )
                if per_label:
                    squashed.mul_(v[..., start:stop, :].unsqueeze(-2))
                if need_labels:
                    product = squashed * tokens.unsqueeze(-3) if multiply else squashed
                    torch.sum(product, -2, out=grad_labels[..., start:stop, :])
                if need_tokens:
                    grad_tokens += (
                        squashed.mul_(labels[..., start:stop, :].unsqueeze(-2)) if multiply else squashed
                    ).sum(-3)
        if need_v:
            grad_v -= grad_scores.sum(-1, keepdim=True) if per_label else grad_scores.sum()
        factor = 4 if per_label else 4 * v
        for grad in (grad_tokens, grad_labels):
            if grad is not None:
                grad *= factor
        return grad_tokens, grad_labels, grad_v, None, None


def label_token_scores(
    tokens: Tensor, labels: Tensor, v: Tensor, chunk_size: int | None = None, interaction: str = "add"
) -> Tensor:
    """Scores ``s[k, n] = v_kᵀ tanh(labels[k] ∘ tokens[n])`` -> ``(L, N)``.

    ``tokens (N, a)``, ``labels (L, a)``, ``v (a,)`` (shared by every label) or ``(L, a)`` (one per label);
    ``interaction`` is ``"add"`` (``∘ = +``) or ``"mul"`` (``∘ = ⊙``, element-wise). Batched: ``tokens (B, N, a)``
    and ``labels (B, L, a)`` (each document its own labels, e.g. a shortlist), ``v (a,)`` or ``(B, L, a)`` ->
    ``(B, L, N)`` in one pass, with no loop over documents. Peak memory is one ``(chunk, N, a)`` block (times
    ``B``) in forward and in backward (which recomputes it); ``chunk_size=None`` picks the largest chunk within
    :data:`~uclaf_plugin.heads.common.CHUNK_BUDGET_BYTES`. Raises ``ValueError`` on mismatched shapes or an
    unknown ``interaction``.
    """
    a = tokens.shape[-1]
    shapes_ok = tokens.dim() >= 2 and labels.dim() == tokens.dim() and labels.shape[-1] == a
    shapes_ok = shapes_ok and labels.shape[:-2] == tokens.shape[:-2]
    if not shapes_ok or not (v.shape == (a,) or v.shape == labels.shape):
        raise ValueError(
            "tokens ([B,] N, a), labels ([B,] L, a) and v (a,) or ([B,] L, a) must share a (and B); got "
            f"tokens {tuple(tokens.shape)}, labels {tuple(labels.shape)}, v {tuple(v.shape)}"
        )
    if interaction not in INTERACTIONS:
        raise ValueError(f"interaction must be one of {INTERACTIONS}; got {interaction!r}")
    _check_positive(chunk_size=chunk_size)
    if chunk_size is None:
        # the multiplicative backward holds a second block for the label gradient
        bytes_per_label = tokens.numel() * tokens.element_size() * (2 if interaction == "mul" else 1)
        chunk_size = auto_label_chunk_size(labels.shape[0], bytes_per_label)
    return _LabelTokenScores.apply(tokens, labels, v, chunk_size, interaction)


def additive_attention_scores(
    tokens: Tensor, labels: Tensor, v: Tensor, chunk_size: int | None = None
) -> Tensor:
    """Scores ``s[k, n] = vᵀ tanh(labels[k] + tokens[n])`` -> ``(L, N)`` (paper eq. 2, ``W_b[l; f]`` split in
    a label and a token projection); ``tokens (N, a)``, ``labels (L, a)``, ``v (a,)``. See
    :func:`label_token_scores`."""
    if v.dim() != 1:
        raise ValueError(f"v must have shape (a,); got {tuple(v.shape)}")
    return label_token_scores(tokens, labels, v, chunk_size, "add")
