"""Dot-product label attention (CAML / AttentionXML) and the pooled linear head."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .common import (
    POOLINGS,
    HeadOutput,
    _bool_mask,
    _check_features,
    _check_positive,
    auto_label_chunk_size,
    log_prior_odds,
    masked_mean_pool,
    masked_softmax,
    standardize_features,
)


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

    def forward(
        self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> HeadOutput:
        """``features (B, T, input_dim)``, ``mask (B, T)`` -> logits ``(B, L)``; attention ``(B, L, T)`` only
        with ``return_attention=True``."""
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
        attention = torch.cat([att for _, att in pieces], dim=1) if return_attention else None
        return HeadOutput(logits, attention)

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
    Its output's attention is always ``None``; ``return_attention`` is accepted so the call matches the attention
    heads.

    ``standardize=True`` standardises each pooled feature before the dropout: batch statistics in training
    (running statistics for a batch of one), running statistics in eval (a ``BatchNorm1d`` without affine
    parameters; under DDP each process standardises by its own batch). Pretrained sentence encoders pool to
    features that share one large direction (MiniLM on EURLEX57K: mean pairwise cosine 0.57), which a linear
    layer over thousands of labels learns around slowly; docs/RESULTS.md, "Why `bert` sits at the label prior",
    measures the difference.

    ``bias_init="prior"`` marks the head to start each label's bias at its log prior odds on the training
    targets (:meth:`start_bias_at_prior`, which ``TextClassifier.from_config`` calls with ``train_targets``), the
    prior-probability start of Lin et al. 2017 (focal loss, §4.1): BCE then need not spend its first steps pushing
    thousands of negative logits down. ``"zeros"`` (default) keeps ``nn.Linear``'s start.
    """

    BIAS_INITS = ("zeros", "prior")

    def __init__(
        self,
        input_dim: int,
        num_labels: int,
        pooling: str = "mean",
        dropout: float = 0.1,
        standardize: bool = False,
        bias_init: str = "zeros",
    ):
        super().__init__()
        _check_positive(input_dim=input_dim, num_labels=num_labels)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}; got {pooling!r}")
        if bias_init not in self.BIAS_INITS:
            raise ValueError(f"bias_init must be one of {list(self.BIAS_INITS)}; got {bias_init!r}")
        self.bias_init = bias_init
        self.input_dim, self.num_labels, self.pooling = input_dim, num_labels, pooling
        self.feature_norm = nn.BatchNorm1d(input_dim, affine=False) if standardize else None
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(input_dim, num_labels)

    def forward(
        self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> HeadOutput:
        """``features (B, T, input_dim)``, ``mask (B, T)`` -> logits ``(B, L)``, attention ``None``."""
        _check_features(features, self.input_dim)
        mask = _bool_mask(features, mask)
        pooled = standardize_features(self._pool(features, mask), self.feature_norm, self.training)
        logits = self.classifier(self.dropout(pooled))
        return HeadOutput(logits)

    @property
    def starts_at_prior(self) -> bool:
        """Whether :meth:`start_bias_at_prior` has to run on the training targets before training."""
        return self.bias_init == "prior"

    @torch.no_grad()
    def start_bias_at_prior(self, train_targets) -> None:
        """Set each label's bias to its :func:`~uclaf_plugin.heads.common.log_prior_odds` on ``train_targets (n, L)``
        (dense or scipy sparse). Raises ``ValueError`` on a shape that does not match."""
        self.classifier.bias.copy_(log_prior_odds(train_targets, self.num_labels))

    def _pool(self, features: Tensor, mask: Tensor) -> Tensor:
        if self.pooling == "cls":
            return features[:, 0]
        if self.pooling == "mean":
            return masked_mean_pool(features, mask)
        padded = features.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return padded.masked_fill(~mask.any(1, keepdim=True), 0.0)
