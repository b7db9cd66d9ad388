"""AttentionXML-style encoder (You et al. 2019, Sec. 3.3): embedding -> dropout -> BiLSTM -> dropout.

The paper's settings (its ``configure/models`` files): embedding dropout 0.2, 256 LSTM units per direction, one
layer, dropout 0.5 on the BiLSTM output, fixed pretrained word vectors on EUR-Lex. Its label tree is replaced by
the label clusters of :mod:`uclaf_plugin.shortlist` where the label set is large.

Its head is :class:`uclaf_plugin.heads.attentionxml.AttentionXMLHead` (label-wise attention over label clusters).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .xmlcnn import token_embedding, token_mask


class AttentionXMLStyle(nn.Module):
    """Bidirectional LSTM token encoder over packed (right-padded) sequences.

    ``forward(input_ids (B,T), attention_mask (B,T))`` returns features ``(B, T, 2*hidden_size)`` and the bool
    mask. ``dropout`` applies to the embeddings, ``output_dropout`` to the BiLSTM output; ``freeze_embeddings``
    keeps the word vectors fixed. Padding never enters the LSTM, so adding padding changes no real token's features; features at
    padding, and every feature of an empty document, are zero.
    """

    def __init__(
        self,
        vocab_size: int = 30522,
        embedding_dim: int = 384,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.5,
        embedding_weights: Tensor | None = None,
        output_dropout: float = 0.0,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = token_embedding(vocab_size, embedding_dim, embedding_weights, freeze_embeddings)
        self.dropout = nn.Dropout(dropout)
        self.output_dropout = nn.Dropout(output_dropout)
        self.lstm = nn.LSTM(
            self.embedding.embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dim = 2 * hidden_size

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        mask = token_mask(input_ids, attention_mask)
        lengths = mask.sum(1)
        positions = torch.arange(mask.shape[1], device=mask.device)
        if not torch.equal(mask, positions < lengths.unsqueeze(1)):
            raise ValueError(
                "attention_mask must be right-padded (1s then 0s); tokenize with padding_side='right'"
            )
        embedded = self.dropout(self.embedding(input_ids))
        # pack_padded_sequence needs length >= 1: an empty document runs on one pad token, zeroed below.
        packed = pack_padded_sequence(
            embedded, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        output, _ = self.lstm(packed)
        features, _ = pad_packed_sequence(output, batch_first=True, total_length=mask.shape[1])
        return self.output_dropout(features) * mask.unsqueeze(-1).to(features.dtype), mask
