"""Label clusters and candidate shortlists, so that label-wise attention runs on a few labels per document.

AttentionXML (You et al. 2019, Sec. 3.2) groups labels into a shallow tree: each label is represented by the
normalised sum of the TF-IDF vectors of its training documents, and balanced 2-means splits the labels recursively
until every cluster holds at most ``cluster_size`` labels (Parabel's procedure). A document's candidates are the
labels of its top-scoring clusters; in training the clusters of its true labels are added, so every positive is
scored at the label level. :class:`LabelClusters` holds one such clustering as a ``(L,)`` assignment, which any
head can use: the AttentionXML head here, or a shortlisted LAN head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from torch import Tensor


def label_representations(texts: Sequence[str], targets: sp.spmatrix) -> sp.csr_matrix:
    """``(L, F)``: each label's L2-normalised sum of its training documents' TF-IDF rows (a label without
    documents gets a zero row). ``targets`` is the ``(n, L)`` multi-hot matrix of ``texts``."""
    if targets.shape[0] != len(texts):
        raise ValueError(f"targets has {targets.shape[0]} rows but {len(texts)} texts were given")
    features = TfidfVectorizer(sublinear_tf=True, min_df=1).fit_transform(texts)
    return normalize(sp.csr_matrix(targets).T.astype(np.float64) @ features)


def balanced_clusters(representations: sp.spmatrix, cluster_size: int, seed: int = 0) -> np.ndarray:
    """Recursive balanced 2-means (Parabel / AttentionXML): ``(L,)`` cluster ids, each cluster <= ``cluster_size``.

    Each split seeds one centre with a random label and the other with the label least similar to it, then
    alternates: rank the labels by their cosine
    similarity to centre A minus centre B and give the top half to A. Clusters are numbered depth first.
    """
    if cluster_size < 1:
        raise ValueError(f"cluster_size must be at least 1, got {cluster_size}")
    rows = sp.csr_matrix(representations)
    rng = np.random.default_rng(seed)
    assignment = np.empty(rows.shape[0], dtype=np.int64)
    pending, next_id = [np.arange(rows.shape[0])], 0
    while pending:
        labels = pending.pop()
        if len(labels) <= cluster_size:
            assignment[labels] = next_id
            next_id += 1
            continue
        left, right = _two_means(rows[labels], rng)
        pending += [labels[right], labels[left]]
    return assignment


def halving_clusters(num_labels: int, cluster_size: int) -> np.ndarray:
    """The cluster shape of :func:`balanced_clusters` on labels kept in index order: ``(L,)`` cluster ids.

    Halving depends only on ``num_labels`` and ``cluster_size``, so this fixes the number of clusters before the
    labels are clustered (a head sizes its cluster scorer with it).
    """
    if cluster_size < 1 or num_labels < 1:
        raise ValueError(f"num_labels and cluster_size must be at least 1, got {num_labels}, {cluster_size}")
    sizes, pending = [], [num_labels]
    while pending:
        size = pending.pop()
        if size <= cluster_size:
            sizes.append(size)
        else:
            pending += [size - size // 2, size // 2]
    return np.repeat(np.arange(len(sizes)), sizes)


def _two_means(rows: sp.csr_matrix, rng: np.random.Generator, iterations: int = 10):
    half = rows.shape[0] // 2
    first = rows[rng.integers(rows.shape[0])].toarray()
    farthest = int(np.argmin(np.asarray(rows @ first.T).ravel()))
    centres = np.vstack([first, rows[farthest].toarray()])
    for _ in range(iterations):
        similarity = np.asarray(rows @ centres.T)
        order = np.argsort(similarity[:, 1] - similarity[:, 0], kind="stable")
        left, right = order[:half], order[half:]
        centres = np.vstack([_centre(rows[left]), _centre(rows[right])])
    return left, right


def _centre(rows: sp.csr_matrix) -> np.ndarray:
    centre = np.asarray(rows.mean(axis=0)).ravel()
    return centre / max(np.linalg.norm(centre), 1e-12)


class LabelClusters:
    """A clustering of ``L`` labels: ``assignment[l]`` is label ``l``'s cluster (0..C-1, every cluster used).

    ``members`` is ``(C, S)``: each cluster's labels, padded with ``-1`` to the largest size ``S``.
    """

    def __init__(self, assignment: Tensor | np.ndarray):
        assignment = torch.as_tensor(np.asarray(assignment), dtype=torch.long)
        if assignment.ndim != 1 or len(assignment) == 0 or assignment.min() < 0:
            raise ValueError("assignment must be a non-empty 1-D array of cluster ids >= 0")
        sizes = torch.bincount(assignment)
        if (sizes == 0).any():
            raise ValueError(
                f"cluster ids must be 0..C-1 with none empty; empty: {(sizes == 0).nonzero().ravel()}"
            )
        self.assignment = assignment
        order = torch.argsort(assignment, stable=True)
        rank = torch.arange(len(assignment)) - torch.repeat_interleave(sizes.cumsum(0) - sizes, sizes)
        self.members = torch.full((len(sizes), int(sizes.max())), -1, dtype=torch.long)
        self.members[assignment[order], rank] = order

    @classmethod
    def fit(
        cls, texts: Sequence[str], targets: sp.spmatrix, cluster_size: int = 8, seed: int = 0
    ) -> LabelClusters:
        """Cluster the labels of ``targets`` ``(n, L)`` by their documents' TF-IDF (see the module docstring)."""
        return cls(balanced_clusters(label_representations(texts, targets), cluster_size, seed))

    @property
    def num_clusters(self) -> int:
        return self.members.shape[0]

    def cluster_targets(self, targets: Tensor) -> Tensor:
        """``(B, C)``: 1 where the cluster holds at least one of the document's true labels (``targets (B, L)``)."""
        out = targets.new_zeros(targets.shape[0], self.num_clusters)
        index = self.assignment.to(targets.device).expand_as(targets)
        return out.scatter_reduce(1, index, targets, "amax")

    def candidates(
        self, cluster_scores: Tensor, top_clusters: int, targets: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The labels of each document's ``top_clusters`` best clusters: ``(labels (B, K), valid (B, K))``.

        With ``targets`` (training), the clusters of the true labels come first and the best-scoring others fill
        the remaining places (AttentionXML adds the positives' clusters to the predicted ones); a document with
        more positive clusters than ``top_clusters`` keeps them all. ``valid`` is False at padding, whose label id
        is 0. ``K = top_clusters * S`` (more in training when positives overflow).
        """
        top = min(top_clusters, self.num_clusters)
        ranking = cluster_scores.detach().float()
        if targets is not None:
            positive = self.cluster_targets(targets.float()).bool()
            top = max(top, int(positive.sum(1).max()))
            ranking = ranking.masked_fill(positive, float("inf"))
        chosen = ranking.topk(top, dim=1).indices
        labels = self.members.to(chosen.device)[chosen].flatten(1)
        return labels.clamp(min=0), labels >= 0
