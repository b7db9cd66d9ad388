"""Classification heads: token features ``(B, T, d)`` and a padding mask ``(B, T)`` -> logits ``(B, L)``.

- :class:`LabelAttentionHead` (LAN): additive label attention; labels are scored chunk by chunk and the
  backward pass recomputes each chunk, so memory stays ``O(B·T·chunk·a)`` instead of ``O(B·T·L·a)``.
- :class:`DotLabelAttentionHead`: CAML / AttentionXML dot-product label attention.
- :class:`LinearHead`: masked pooling then a linear layer.

All three are called the same way, ``head(features, mask=None, return_attention=False)``. With
``return_attention=True`` they return ``(logits, attention)``: attention is ``(B, L, T)``, zero on padding
(``None`` for :class:`LinearHead`, which has none). ``mask`` is bool or 0/1 numbers; non-zero marks a real
token.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

CHUNK_BUDGET_BYTES = 256 * 2**20
"""Memory allowed for the per-chunk intermediate when ``label_chunk_size=None`` (the automatic chunk size)."""

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
POOLINGS = ("mean", "cls", "max")


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


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``scores (B, L, T)`` over tokens (in float32 at least), padding excluded.

    A document without tokens gets all zeros.
    """
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
    padding = ~mask.unsqueeze(1)
    empty = padding.all(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(padding, float("-inf")).masked_fill(empty, 0.0), dim=-1)
    return weights.masked_fill(empty, 0.0)


# ---------------------------------------------------------------- additive scores, label-chunked


def _sigmoid_chunks(tokens: Tensor, labels: Tensor, chunk_size: int):
    """Yield ``(start, σ(2·(labels[start:start+n, None] + tokens)))`` as ``(n, N, a)``, reusing one buffer."""
    tokens2, labels2 = 2 * tokens, 2 * labels
    num_tokens, dim = tokens.shape
    buffer = tokens.new_empty(min(chunk_size, labels.shape[0]) * num_tokens * dim)
    for start in range(0, labels.shape[0], chunk_size):
        block = labels2[start : start + chunk_size]
        out = buffer[: block.shape[0] * num_tokens * dim].view(block.shape[0], num_tokens, dim)
        yield start, torch.add(tokens2, block.unsqueeze(1), out=out).sigmoid_()


class _AdditiveScores(torch.autograd.Function):
    """``s[k, n] = v · tanh(labels[k] + tokens[n])``, label chunk by label chunk, recomputed in backward.

    Uses ``tanh(x) = 2σ(2x) − 1`` (sigmoid is 2-3x cheaper than tanh on CPU), so ``s = 2 v·σ(2x) − Σv`` and
    ``∂tanh/∂x = 4 σ(1 − σ)``; the factor ``4v`` is applied once to the summed gradients.
    """

    @staticmethod
    def forward(ctx, tokens: Tensor, labels: Tensor, v: Tensor, chunk_size: int) -> Tensor:
        ctx.save_for_backward(tokens, labels, v)
        ctx.chunk_size = chunk_size
        scores = tokens.new_empty(labels.shape[0], tokens.shape[0])
        with torch.autocast(tokens.device.type, enabled=False):
            for start, squashed in _sigmoid_chunks(tokens, labels, chunk_size):
                # a row-wise sum, unlike a matrix-vector product, is bit-identical for every chunk size
                torch.sum(squashed.mul_(2 * v), -1, out=scores[start : start + squashed.shape[0]])
            scores -= v.sum()
        return scores

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_scores: Tensor):
        tokens, labels, v = ctx.saved_tensors
        need_tokens, need_labels, need_v, _ = ctx.needs_input_grad
        grad_scores = grad_scores.contiguous()
        grad_tokens = torch.zeros_like(tokens) if need_tokens else None
        grad_labels = torch.empty_like(labels) if need_labels else None
        grad_v = torch.zeros_like(v) if need_v else None
        with torch.autocast(tokens.device.type, enabled=False):
            for start, squashed in _sigmoid_chunks(tokens, labels, ctx.chunk_size):
                stop = start + squashed.shape[0]
                grad = grad_scores[start:stop]
                if need_v:
                    grad_v.addmv_(squashed.view(-1, v.shape[0]).t(), grad.reshape(-1), alpha=2)
                if need_tokens or need_labels:
                    # in place: squashed <- grad · σ(1 − σ)
                    torch.ops.aten.sigmoid_backward.grad_input(
                        grad.unsqueeze(-1).expand_as(squashed), squashed, grad_input=squashed
                    )
                if need_tokens:
                    grad_tokens += squashed.sum(0)
                if need_labels:
                    torch.sum(squashed, 1, out=grad_labels[start:stop])
        if need_v:
            grad_v -= grad_scores.sum()
        for grad in (grad_tokens, grad_labels):
            if grad is not None:
                grad *= 4 * v
        return grad_tokens, grad_labels, grad_v, None


def additive_attention_scores(
    tokens: Tensor, labels: Tensor, v: Tensor, chunk_size: int | None = None
) -> Tensor:
    """Scores ``s[k, n] = vᵀ tanh(labels[k] + tokens[n])`` -> ``(L, N)``.

    ``tokens (N, a)``, ``labels (L, a)``, ``v (a,)``.

    Peak memory is one ``(chunk, N, a)`` block in forward and in backward (which recomputes it);
    ``chunk_size=None`` picks the largest chunk within :data:`CHUNK_BUDGET_BYTES`.
    """
    if (
        tokens.dim() != 2
        or labels.dim() != 2
        or v.shape != (tokens.shape[1],)
        or labels.shape[1] != v.shape[0]
    ):
        raise ValueError(
            "tokens (N, a), labels (L, a) and v (a,) must share a; got "
            f"tokens {tuple(tokens.shape)}, labels {tuple(labels.shape)}, v {tuple(v.shape)}"
        )
    _check_positive(chunk_size=chunk_size)
    if chunk_size is None:
        chunk_size = auto_label_chunk_size(labels.shape[0], tokens.numel() * tokens.element_size())
    return _AdditiveScores.apply(tokens, labels, v, chunk_size)


# ---------------------------------------------------------------- heads


def _initial_label_embedding(label_init: Tensor | None, num_labels: int, input_dim: int) -> Tensor:
    if label_init is None:
        return nn.init.normal_(torch.empty(num_labels, input_dim), std=input_dim**-0.5)
    label_init = torch.as_tensor(label_init)
    if label_init.dim() != 2 or label_init.shape[0] != num_labels:
        raise ValueError(
            f"label_init must have shape (num_labels={num_labels}, label_dim); got {tuple(label_init.shape)}"
        )
    return label_init.detach().clone().to(torch.get_default_dtype())


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]()


class LabelAttentionHead(nn.Module):
    """Label Attention Network (LAN) head: each label attends over the tokens of a document.

    ``s_tk = vᵀ tanh(W_l l_k + W_f f_t)``, ``β_tk = softmax_t(s_tk)`` over real tokens,
    ``c_k = Σ_t β_tk f_t``, ``logit_k = FC2(dropout(act(FC1([l_k; c_k])))) + r_k · c_k``; FC1, FC2 shared by all
    labels. The per-label readout ``r_k · c_k`` (``label_readout=True``, the default) is our addition: with the
    shared layers alone a label's logit depends on it only through a hidden bias, and the head learns several
    times more slowly (docs/RESULTS.md, "LAN readout"); ``label_readout=False`` gives the paper's formula.

    Label embeddings ``l_k`` are learned; ``label_init (L, e)`` starts them from e.g. the encoder's embedding
    of the label names, which puts labels and tokens in one space (``label_dim = e``, else ``input_dim``).
    ``hidden_dim`` defaults to ``input_dim``. Labels are scored ``label_chunk_size`` at a time (``None``: the
    largest chunk whose ``(chunk, tokens, attention_dim)`` block fits :data:`CHUNK_BUDGET_BYTES`); the chunk
    size never changes the logits (bit for bit when ``attention_dim`` is a multiple of 16: CPU kernels round
    the tail of a vector loop differently). Padding tokens are never scored, so padding does not change them.
    """

    def __init__(
        self,
        input_dim: int,
        num_labels: int,
        attention_dim: int = 256,
        hidden_dim: int | None = None,
        label_chunk_size: int | None = None,
        label_init: Tensor | None = None,
        dropout: float = 0.1,
        activation: str = "relu",
        label_readout: bool = True,
    ):
        super().__init__()
        _check_positive(
            input_dim=input_dim,
            num_labels=num_labels,
            attention_dim=attention_dim,
            hidden_dim=hidden_dim,
            label_chunk_size=label_chunk_size,
        )
        self.input_dim, self.num_labels, self.label_chunk_size = input_dim, num_labels, label_chunk_size
        self.label_embedding = nn.Parameter(_initial_label_embedding(label_init, num_labels, input_dim))
        label_dim = self.label_embedding.shape[1]
        hidden_dim = hidden_dim or input_dim
        self.label_proj = nn.Linear(label_dim, attention_dim, bias=False)
        self.token_proj = nn.Linear(input_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)
        self.fc1 = nn.Linear(label_dim + input_dim, hidden_dim)
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, 1)
        self.label_readout = (
            nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_labels, input_dim)))
            if label_readout
            else None
        )

    def attention_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """Raw scores ``s (B, L, T)``; entries at padding are 0 (never computed)."""
        batch, length, _ = features.shape
        real = mask.reshape(-1).nonzero().squeeze(1)
        tokens = self.token_proj(features[mask])  # (N, a), rows in the order of `real`
        labels = self.label_proj(self.label_embedding).to(tokens.dtype)
        v = self.score.weight.squeeze(0).to(tokens.dtype)
        scores = additive_attention_scores(tokens, labels, v, self.label_chunk_size)
        full = scores.new_zeros(self.num_labels, batch * length).index_copy(1, real, scores)
        return full.view(self.num_labels, batch, length).transpose(0, 1)

    def forward(self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False):
        """``features (B, T, input_dim)``, ``mask (B, T)`` -> logits ``(B, L)`` [, attention (B, L, T)]."""
        _check_features(features, self.input_dim)
        mask = _bool_mask(features, mask)
        scores = self.attention_scores(features, mask)
        attention = masked_softmax(scores, mask).to(features.dtype)
        logits = self._classify(torch.bmm(attention, features))
        return (logits, attention) if return_attention else logits

    def _classify(self, context: Tensor) -> Tensor:
        # FC1([l_k; c_k]) = A l_k + C c_k + b: the label half is the same for every document; compute it once.
        label_dim = self.label_embedding.shape[1]
        weight_label, weight_context = self.fc1.weight.split([label_dim, self.input_dim], dim=1)
        label_part = F.linear(self.label_embedding, weight_label, self.fc1.bias)
        hidden = self.activation(F.linear(context, weight_context) + label_part.to(context.dtype))
        logits = self.fc2(self.dropout(hidden)).squeeze(-1)
        if self.label_readout is not None:
            logits = logits + (context * self.label_readout.to(context.dtype)).sum(-1)
        return logits


class DotLabelAttentionHead(nn.Module):
    """Dot-product label attention (CAML / AttentionXML).

    ``β_k = softmax_t(u_k · f_t)`` over real tokens, ``c_k = Σ_t β_tk f_t``.

    ``hidden_dim=None``: a linear output per label, ``logit_k = w_k · dropout(c_k) + b_k`` (CAML).
    ``hidden_dim`` set: shared layers ``c_k -> FC -> ReLU -> dropout -> FC -> 1`` (AttentionXML).
    With more than one label chunk (``label_chunk_size``, or ``None`` for the largest chunk whose
    ``(B, chunk, T)`` scores fit :data:`CHUNK_BUDGET_BYTES` four times over), each chunk is checkpointed, so
    training keeps only one chunk's intermediates.
    """

    def __init__(
        self,
        input_dim: int,
        num_labels: int,
        hidden_dim: int | None = None,
        label_chunk_size: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        _check_positive(
            input_dim=input_dim,
            num_labels=num_labels,
            hidden_dim=hidden_dim,
            label_chunk_size=label_chunk_size,
        )
        self.input_dim, self.num_labels, self.label_chunk_size = input_dim, num_labels, label_chunk_size
        self.label_queries = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_labels, input_dim)))
        self.dropout = nn.Dropout(dropout)
        if hidden_dim is None:
            self.label_weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_labels, input_dim)))
            self.label_bias = nn.Parameter(torch.zeros(num_labels))
        else:
            self.fc1 = nn.Linear(input_dim, hidden_dim)
            self.fc2 = nn.Linear(hidden_dim, 1)
        self.hidden_dim = hidden_dim

    def forward(self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False):
        """``features (B, T, input_dim)``, ``mask (B, T)`` -> logits ``(B, L)`` [, attention (B, L, T)]."""
        _check_features(features, self.input_dim)
        mask = _bool_mask(features, mask)
        chunk = self.label_chunk_size or auto_label_chunk_size(
            self.num_labels, 4 * features.shape[0] * features.shape[1] * features.element_size()
        )
        starts = range(0, self.num_labels, chunk)
        recompute = len(starts) > 1 and torch.is_grad_enabled()
        pieces = [
            checkpoint(self._label_chunk, features, mask, start, chunk, return_attention, use_reentrant=False)
            if recompute
            else self._label_chunk(features, mask, start, chunk, return_attention)
            for start in starts
        ]
        logits = torch.cat([logits for logits, _ in pieces], dim=1)
        return (logits, torch.cat([att for _, att in pieces], dim=1)) if return_attention else logits

    def _label_chunk(self, features: Tensor, mask: Tensor, start: int, size: int, keep_attention: bool):
        labels = slice(start, start + size)
        scores = torch.matmul(self.label_queries[labels].to(features.dtype), features.transpose(1, 2))
        attention = masked_softmax(scores, mask).to(features.dtype)
        context = torch.bmm(attention, features)
        if self.hidden_dim is None:
            logits = (self.dropout(context) * self.label_weight[labels]).sum(-1) + self.label_bias[labels]
        else:
            logits = self.fc2(self.dropout(torch.relu(self.fc1(context)))).squeeze(-1)
        return logits, attention if keep_attention else None


class LinearHead(nn.Module):
    """Pool the tokens (``"mean"`` over real tokens, ``"max"`` over real tokens, or ``"cls"``: the first
    token), then dropout and a linear layer. An empty document pools to zeros (``"cls"`` always uses token 0).
    ``return_attention=True`` returns ``(logits, None)`` so the call matches the attention heads."""

    def __init__(self, input_dim: int, num_labels: int, pooling: str = "mean", dropout: float = 0.1):
        super().__init__()
        _check_positive(input_dim=input_dim, num_labels=num_labels)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}; got {pooling!r}")
        self.input_dim, self.num_labels, self.pooling = input_dim, num_labels, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(input_dim, num_labels)

    def forward(self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False):
        """``features (B, T, input_dim)``, ``mask (B, T)`` -> logits ``(B, L)`` [, ``None``]."""
        _check_features(features, self.input_dim)
        mask = _bool_mask(features, mask)
        logits = self.classifier(self.dropout(self._pool(features, mask)))
        return (logits, None) if return_attention else logits

    def _pool(self, features: Tensor, mask: Tensor) -> Tensor:
        if self.pooling == "cls":
            return features[:, 0]
        if self.pooling == "mean":
            return masked_mean_pool(features, mask)
        padded = features.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return padded.masked_fill(~mask.any(1, keepdim=True), 0.0)


HEADS = {"lan": LabelAttentionHead, "dot": DotLabelAttentionHead, "linear": LinearHead}


def build_head(name: str, input_dim: int, num_labels: int, **kwargs) -> nn.Module:
    """A head by name: ``"lan"`` (LabelAttentionHead), ``"dot"`` (DotLabelAttentionHead) or ``"linear"``."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid names: {sorted(HEADS)}")
    return HEADS[name](input_dim, num_labels, **kwargs)
