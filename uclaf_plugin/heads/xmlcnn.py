"""XML-CNN's head (Liu et al., SIGIR 2017): dynamic max pooling, a bottleneck layer, one linear output per label."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .common import HeadOutput


class XMLCNNHead(nn.Module):
    """Dynamic max pooling -> bottleneck (Linear+ReLU) -> dropout -> Linear to ``num_labels``.

    Each document's real tokens (in order) are split into ``pool_chunks`` near-equal chunks and max-pooled per
    chunk; a chunk without tokens (documents shorter than ``pool_chunks``) gives 0. Chunks follow each
    document's own length, so the output does not depend on how much padding the batch adds.
    """

    def __init__(
        self,
        input_dim: int,
        num_labels: int,
        pool_chunks: int = 8,
        bottleneck_dim: int = 512,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if pool_chunks < 1:
            raise ValueError(f"pool_chunks must be >= 1, got {pool_chunks}")
        self.input_dim = input_dim
        self.pool_chunks = pool_chunks
        self.bottleneck = nn.Sequential(nn.Linear(pool_chunks * input_dim, bottleneck_dim), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(bottleneck_dim, num_labels)

    def forward(
        self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> HeadOutput:
        """Logits ``(B, L)`` of ``features (B, T, input_dim)``; attention is always ``None`` (the head has none;
        ``return_attention`` is accepted so the call matches the attention heads)."""
        if features.ndim != 3 or features.shape[-1] != self.input_dim:
            raise ValueError(
                f"features must have shape (batch, length, {self.input_dim}), got {tuple(features.shape)}"
            )
        if mask is None:
            mask = features.new_ones(features.shape[:2], dtype=torch.bool)
        pooled = dynamic_max_pool(features, mask.bool(), self.pool_chunks)
        return HeadOutput(self.output(self.dropout(self.bottleneck(pooled.flatten(1)))))


def dynamic_max_pool(features: Tensor, mask: Tensor, chunks: int) -> Tensor:
    """Max over ``chunks`` consecutive near-equal parts of each document's real tokens: (B,T,d) -> (B,c,d)."""
    batch, _, dim = features.shape
    rank = mask.long().cumsum(1) - 1
    length = mask.sum(1, keepdim=True).clamp(min=1)
    # Chunk j holds ranks [ceil(j*n/c), ceil((j+1)*n/c)); padding goes to an extra chunk, dropped below.
    chunk = torch.where(mask, rank * chunks // length, chunks)
    pooled = features.new_full((batch, chunks + 1, dim), float("-inf"))
    pooled = pooled.scatter_reduce(1, chunk.unsqueeze(-1).expand(-1, -1, dim), features, "amax")
    pooled = pooled[:, :chunks]
    return pooled.masked_fill(torch.isneginf(pooled), 0.0)
