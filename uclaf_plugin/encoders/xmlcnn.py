"""XML-CNN (Liu et al. 2017): a convolutional token encoder (its head: :mod:`uclaf_plugin.heads.xmlcnn`).

Also holds the token-embedding and input checks shared by the non-transformer encoders.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def token_embedding(
    vocab_size: int, embedding_dim: int, embedding_weights: Tensor | None, freeze: bool = False
) -> nn.Embedding:
    """An embedding, initialised from a copy of ``embedding_weights`` (vocab, e) when given; ``freeze`` keeps it
    fixed (AttentionXML's ``emb_trainable: False``)."""
    if embedding_weights is None:
        embedding = nn.Embedding(vocab_size, embedding_dim)
        embedding.weight.requires_grad_(not freeze)
        return embedding
    if embedding_weights.ndim != 2:
        raise ValueError(
            f"embedding_weights must have shape (vocab, dim), got {tuple(embedding_weights.shape)}"
        )
    return nn.Embedding.from_pretrained(embedding_weights.detach().clone().float(), freeze=freeze)


def token_mask(input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Checks the encoder inputs and returns the attention mask as bool (B, T)."""
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must have shape (batch, length >= 1), got {tuple(input_ids.shape)}")
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} "
            f"must equal input_ids shape {tuple(input_ids.shape)}"
        )
    return attention_mask.bool()


class XMLCNN(nn.Module):
    """Embedding -> dropout -> 1-D convolutions of several widths -> ReLU, kept per token.

    ``forward(input_ids (B,T), attention_mask (B,T))`` returns the bool mask and features
    ``(B, T, len(filter_sizes)*num_filters)``. Every filter map is "same"-padded so position ``t`` of each map
    is centred on token ``t``; embeddings and output features at padding are zero, so adding padding changes
    no real token's features.
    """

    def __init__(
        self,
        vocab_size: int = 30522,
        embedding_dim: int = 384,
        num_filters: int = 128,
        filter_sizes: Sequence[int] = (2, 4, 8),
        dropout: float = 0.5,
        embedding_weights: Tensor | None = None,
    ) -> None:
        super().__init__()
        if not filter_sizes or min(filter_sizes) < 1:
            raise ValueError(f"filter_sizes must be a non-empty list of positive widths, got {filter_sizes}")
        self.embedding = token_embedding(vocab_size, embedding_dim, embedding_weights)
        self.dropout = nn.Dropout(dropout)
        self.convs = nn.ModuleList(
            nn.Conv1d(self.embedding.embedding_dim, num_filters, width) for width in filter_sizes
        )
        self.output_dim = len(filter_sizes) * num_filters

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        mask = token_mask(input_ids, attention_mask)
        keep = mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        embedded = self.dropout(self.embedding(input_ids) * keep).transpose(1, 2)
        features = torch.cat([torch.relu(conv(same_padding(embedded, conv))) for conv in self.convs], dim=1)
        return features.transpose(1, 2) * keep, mask


def same_padding(embedded: Tensor, conv: nn.Conv1d) -> Tensor:
    """Zero-pad (B, e, T) so ``conv`` keeps length T: (k-1)//2 positions before, k//2 after."""
    width = conv.kernel_size[0]
    return nn.functional.pad(embedded, ((width - 1) // 2, width // 2))
