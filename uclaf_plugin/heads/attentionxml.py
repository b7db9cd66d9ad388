"""AttentionXML's head (You et al., NeurIPS 2019): label-wise attention over a shortlist of label clusters."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..shortlist import LabelClusters, halving_clusters
from ..sparse_labels import is_sparse, multi_hot_bce
from .common import HeadOutput, masked_softmax
from .simple import DotLabelAttentionHead


class AttentionXMLHead(nn.Module):
    """AttentionXML's two levels (You et al. 2019, Sec. 3.2-3.4) on a one-level label tree.

    Level 1: label-wise attention over the ``C`` label clusters (:class:`DotLabelAttentionHead`) scores each
    cluster. Level 2: label-wise attention ``β_k = softmax_t(u_k · f_t)``, ``c_k = Σ_t β_tk f_t``, and the shared
    ``FC -> ReLU -> dropout -> FC`` run only on the candidates, the labels of the ``top_clusters`` best clusters
    (in training: the true labels' clusters first, see :meth:`LabelClusters.candidates`). A candidate's logit is
    its cluster's logit plus its own; every other label gets its cluster's logit alone, so the level-1 scorer
    learns from every label. With ``top_clusters * cluster_size >= num_labels`` there is no level 1: every label
    is scored by its own attention alone, which is AttentionXML without a tree (what its paper runs on EUR-Lex's
    3,956 labels; the tree, FastAttentionXML, serves the larger label sets).

    ``forward(features (B,T,d), mask (B,T), labels=(B,L) in training)`` returns a :class:`HeadOutput` with logits
    ``(B, L)`` and ``attention=None`` (the attention of the candidates only is not a ``(B, L, T)`` map). Clusters start
    in label order; :meth:`fit_clusters` clusters the labels of the training data (they are saved with the
    weights, as the ``assignment`` buffer).
    """

    def __init__(
        self,
        input_dim: int,
        num_labels: int,
        hidden_dim: int = 256,
        cluster_size: int = 8,
        top_clusters: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__()
        if top_clusters < 1:
            raise ValueError(f"top_clusters must be at least 1, got {top_clusters}")
        self.input_dim, self.num_labels = input_dim, num_labels
        self.cluster_size, self.top_clusters = cluster_size, top_clusters
        self.register_buffer("assignment", torch.from_numpy(halving_clusters(num_labels, cluster_size)))
        self.shortlisted = top_clusters * cluster_size < num_labels
        self.cluster_scorer = (
            DotLabelAttentionHead(input_dim, self.num_clusters, hidden_dim, dropout=dropout)
            if self.shortlisted
            else None
        )
        self.label_queries = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_labels, input_dim)))
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, 1)
        self.dropout = nn.Dropout(dropout)
        self._clusters: tuple[int, LabelClusters] | None = None

    @property
    def num_clusters(self) -> int:
        return int(self.assignment.max()) + 1

    def fit_clusters(self, texts, targets, seed: int = 0) -> None:
        """Cluster the labels by their training documents' TF-IDF (``targets`` ``(n, L)`` multi-hot); without a
        shortlist the clusters are not used, and this does nothing."""
        if not self.shortlisted:
            return
        clusters = LabelClusters.fit(texts, targets, self.cluster_size, seed)
        self.assignment.copy_(clusters.assignment)

    def clusters(self) -> LabelClusters:
        """The current clustering (rebuilt when ``assignment`` changes, e.g. on loading weights)."""
        if self._clusters is None or self._clusters[0] != self.assignment._version:
            self._clusters = (self.assignment._version, LabelClusters(self.assignment.cpu()))
        return self._clusters[1]

    def loss(self, features: Tensor, mask: Tensor | None, targets: Tensor) -> Tensor:
        """Mean BCE over every label for multi-hot ``targets (B, L)`` (dense or torch sparse), the true labels'
        clusters among the candidates in training; :class:`~uclaf_plugin.model.UCLAF` calls it in training."""
        dense = targets.to_dense() if is_sparse(targets) else targets
        return multi_hot_bce(self(features, mask, labels=dense.float()).logits.float(), targets)

    def forward(
        self,
        features: Tensor,
        mask: Tensor | None = None,
        return_attention: bool = False,
        labels: Tensor | None = None,
    ) -> HeadOutput:
        """Logits ``(B, L)`` of ``features (B, T, d)``; ``return_attention`` is accepted for the common call and
        ignored (attention ``None``); ``labels (B, L)`` picks the training candidates (see the class)."""
        return HeadOutput(self._logits(features, mask, labels))

    def _logits(self, features: Tensor, mask: Tensor | None, labels: Tensor | None) -> Tensor:
        if features.ndim != 3 or features.shape[-1] != self.input_dim:
            raise ValueError(
                f"features must have shape (batch, tokens, {self.input_dim}), got {features.shape}"
            )
        mask = features.new_ones(features.shape[:2], dtype=torch.bool) if mask is None else mask.bool()
        if not self.shortlisted:
            every_label = torch.arange(self.num_labels, device=features.device).expand(len(mask), -1)
            return self._candidate_logits(features, mask, every_label)
        cluster_logits = self.cluster_scorer(features, mask).logits
        targets = labels if self.training else None
        candidates, valid = self.clusters().candidates(cluster_logits, self.top_clusters, targets)
        assignment = self.assignment.expand(features.shape[0], -1)
        scored = cluster_logits.gather(1, assignment.gather(1, candidates))
        scored = scored + self._candidate_logits(features, mask, candidates).to(scored.dtype)
        inherited = torch.cat(
            [cluster_logits.gather(1, assignment), cluster_logits.new_zeros(len(mask), 1)], 1
        )
        index = candidates.masked_fill(~valid, self.num_labels)  # padding writes to a dropped extra column
        return inherited.scatter(1, index, scored)[:, : self.num_labels]

    def _candidate_logits(self, features: Tensor, mask: Tensor, candidates: Tensor) -> Tensor:
        queries = self.label_queries[candidates].to(features.dtype)
        attention = masked_softmax(torch.bmm(queries, features.transpose(1, 2)), mask).to(features.dtype)
        context = torch.bmm(attention, features)
        return self.fc2(self.dropout(torch.relu(self.fc1(context)))).squeeze(-1)
