"""The correlation-aware contrastive loss (CACL): a functional form and a pytorch-metric-learning loss.

For anchors ``q_i`` and references ``r_a`` (both L2-normalized), ``s_ia = q_i · r_a / τ`` and
``lp_ia = s_ia − log Σ_{b∈A(i)} exp(s_ib)`` over the candidates ``A(i)`` (all references; the batch minus
``i`` itself when no references are given). With ``positives="per_label"`` (paper eq. 11)

    ℓ_i = Σ_j −(1/|P_ij|) Σ_{p∈P_ij} lp_ip,    P_ij = {a ∈ A(i) : R_aj = 1},

over the labels ``j`` of anchor ``i`` with a non-empty ``P_ij`` (``label_reduction="mean"`` averages over
them instead). Weight-based definitions (``any``, ``all``, ``jaccard``) give
``ℓ_i = −Σ_a w_ia lp_ia / Σ_a w_ia``. The loss is the mean of ``ℓ_i`` over anchors with a label and a
positive. Since ``Σ_{p∈P} lp_ip = Σ_{p∈P} s_ip − |P| log Z_i``, positive sets are matrix products
(``s @ R`` and ``mask @ R``): the cost is ``O(B·N·(d+L))`` without duplicating rows per label.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.losses import BaseMetricLossFunction
from torch import Tensor

from .positives import LabelPositives, any_label, get_positive, per_label
from .sparse_labels import compact_label_columns, is_sparse

LABEL_REDUCTIONS = ("sum", "mean")
# Positive sums go through the set label entries from this many label columns on, below 1/16 density.
_SPARSE_SUMS_FROM, _SPARSE_SUMS_DENSITY = 128, 16


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _check_label_reduction(label_reduction: str) -> None:
    if label_reduction not in LABEL_REDUCTIONS:
        raise ValueError(
            f"label_reduction={label_reduction!r} is unknown; choose one of {list(LABEL_REDUCTIONS)}"
        )


# A value check: a bool scalar tensor, True when the values are invalid, and the message to raise then.
ValueCheck = tuple[Tensor, str]


def _check_embeddings(embeddings: Tensor, name: str) -> list[ValueCheck]:
    if not torch.is_tensor(embeddings) or embeddings.ndim != 2 or not embeddings.is_floating_point():
        raise ValueError(f"{name} must be a float tensor of shape (batch, dim)")
    if not embeddings.numel():
        return []
    non_finite = ~torch.isfinite(torch.stack(torch.aminmax(embeddings.detach()))).all()
    return [
        (non_finite, f"{name} contains NaN or inf; check the encoder output (or lower the learning rate)")
    ]


def _check_labels(labels: Tensor, name: str, rows: int, emb_name: str) -> list[ValueCheck]:
    if not torch.is_tensor(labels):
        raise ValueError(f"{name} must be a torch tensor, got {type(labels).__name__}")
    if is_sparse(labels) and (labels.ndim != 2 or labels.shape[0] != rows):
        raise ValueError(
            f"{name} is sparse with shape {tuple(labels.shape)} but {emb_name} has {rows} rows; "
            f"pass (rows, num_labels) multi-hot labels"
        )
    if is_sparse(labels):
        return []  # values are checked when the label columns are compacted
    if labels.ndim not in (1, 2) or len(labels) != rows:
        raise ValueError(
            f"{name} has shape {tuple(labels.shape)} but {emb_name} has {rows} rows; "
            f"pass (rows, num_labels) multi-hot labels or (rows,) class ids"
        )
    if labels.ndim == 1 and (labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool):
        raise ValueError(f"{name} is 1-D, so it must hold integer class ids; got dtype {labels.dtype}")
    if labels.ndim == 1 or labels.dtype == torch.bool:
        return []
    return [(((labels != 0) & (labels != 1)).any(), f"{name} must be multi-hot (only 0 and 1)")]


def _raise_on_invalid_values(checks: list[ValueCheck]) -> None:
    """Raise the first failed check's message; the host reads the device once when all pass (GPU steps)."""
    if not checks:
        return
    device = checks[0][0].device
    if not bool(torch.stack([failed.to(device) for failed, _ in checks]).any()):
        return
    for failed, message in checks:
        if bool(failed):
            raise ValueError(message)


def _class_ids_to_multi_hot(labels: Tensor, ref_labels: Tensor) -> tuple[Tensor, Tensor]:
    """One-hot over the classes the anchors have; references of other classes get no label."""
    classes = labels.unique()
    return labels[:, None] == classes, ref_labels[:, None] == classes


def as_label_matrices(
    embeddings: Tensor,
    labels: Tensor,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    positives: str | None = None,
) -> tuple[Tensor, Tensor]:
    """Validate the inputs; return the anchor and reference labels as ``bool`` multi-hot matrices.

    Without references the batch is its own reference set and both matrices are the same. When either label
    matrix is torch sparse (COO/CSR), both come back dense over the compacted label columns only (see
    :func:`~uclaf_plugin.sparse_labels.compact_label_columns`): the columns some anchor has for ``per_label``
    and ``any`` (``positives``), every column some row has otherwise.
    """
    if (ref_emb is None) != (ref_labels is None):
        given, missing = ("ref_emb", "ref_labels") if ref_labels is None else ("ref_labels", "ref_emb")
        raise ValueError(f"{given} was given without {missing}; pass both or neither")
    value_checks = _check_embeddings(embeddings, "embeddings")
    value_checks += _check_labels(labels, "labels", len(embeddings), "embeddings")
    if ref_emb is None:
        ref_labels = labels
    else:
        value_checks += _check_embeddings(ref_emb, "ref_emb")
        if ref_emb.shape[1] != embeddings.shape[1]:
            raise ValueError(
                f"ref_emb has dim {ref_emb.shape[1]} but embeddings have dim {embeddings.shape[1]}"
            )
        value_checks += _check_labels(ref_labels, "ref_labels", len(ref_emb), "ref_emb")
        if ref_labels.ndim != labels.ndim or (labels.ndim == 2 and ref_labels.shape[1] != labels.shape[1]):
            raise ValueError(
                f"ref_labels has shape {tuple(ref_labels.shape)}, labels {tuple(labels.shape)}: "
                f"both must be class ids or multi-hot over the same labels"
            )
    _raise_on_invalid_values(value_checks)
    ref_labels = ref_labels.to(labels.device)
    if is_sparse(labels) or is_sparse(ref_labels):
        anchor_columns_only = positives is not None and get_positive(positives) in (per_label, any_label)
        return compact_label_columns(labels, ref_labels, anchor_columns_only)
    if labels.ndim == 1:
        return _class_ids_to_multi_hot(labels, ref_labels)
    return labels.bool(), ref_labels.bool()


def candidate_mask(
    num_anchors: int,
    num_refs: int,
    device: torch.device,
    indices_tuple: tuple[Tensor, ...] | None = None,
    exclude_self: bool = False,
) -> Tensor | None:
    """``(B, N)`` bool mask of the candidates ``A(i)``, or ``None`` when every reference is one.

    ``indices_tuple`` (PML pairs ``(a1, p, a2, n)`` or triplets ``(a, p, n)``) keeps only the pairs it names;
    ``exclude_self`` removes ``a = i`` (reference row ``i`` is anchor ``i``).
    """
    mask = None
    if indices_tuple is not None:
        if len(indices_tuple) not in (3, 4):
            raise ValueError(
                f"indices_tuple must be pairs (a1, p, a2, n) or triplets (a, p, n), got {len(indices_tuple)}"
            )
        # Triplets (a, p, n) are the pairs (a, p) and (a, n); PML's own converter is private from PML 3.0 on.
        a1, p, a2, n = (
            indices_tuple
            if len(indices_tuple) == 4
            else (indices_tuple[0], indices_tuple[1], *indices_tuple[::2])
        )
        mask = torch.zeros(num_anchors, num_refs, dtype=torch.bool, device=device)
        mask[a1.to(device), p.to(device)] = True
        mask[a2.to(device), n.to(device)] = True
    if exclude_self:
        not_self = ~torch.eye(num_anchors, num_refs, dtype=torch.bool, device=device)
        mask = not_self if mask is None else mask & not_self
    return mask


def _log_normalizer(logits: Tensor, candidates: Tensor | None) -> Tensor:
    """``log Σ_{b∈A(i)} exp(s_ib)`` as ``(B, 1)``; 0 for anchors without candidates, never -inf arithmetic."""
    if candidates is None:
        return logits.logsumexp(dim=1, keepdim=True)
    masked = logits.masked_fill(~candidates, torch.finfo(logits.dtype).min)
    return masked.logsumexp(dim=1, keepdim=True).masked_fill(~candidates.any(dim=1, keepdim=True), 0)


def _set_entries(refs: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(rows, columns)`` of a wide, sparse ``(N, L')`` bool label matrix; ``None`` when a dense product is cheaper.

    Wide sparse label matrices (EUR-Lex, or sparse inputs compacted to the anchors' labels) are summed through
    their set entries (a gather and an ``index_add``): ``B · nnz`` work instead of ``B · N · L'``.
    """
    if refs.shape[1] < _SPARSE_SUMS_FROM:
        return None
    rows, columns = refs.nonzero(as_tuple=True)
    return (rows, columns) if len(rows) * _SPARSE_SUMS_DENSITY <= refs.numel() else None


def _sum_over_labels(values: Tensor, refs: Tensor, entries: tuple[Tensor, Tensor] | None) -> Tensor:
    """``values @ refs`` for ``(B, N)`` values and ``(N, L')`` bool labels (``entries``: see :func:`_set_entries`)."""
    if entries is None:
        return values @ refs.to(values.dtype)
    rows, columns = entries
    return values.new_zeros(len(values), refs.shape[1]).index_add(1, columns, values[:, rows])


def _per_label_losses(
    logits: Tensor, normalizer: Tensor, candidates: Tensor | None, positives: LabelPositives, reduction: str
) -> tuple[Tensor, Tensor]:
    """``ℓ_i = Σ_j (log Z_i − mean_{p∈P_ij} s_ip)``: two ``(B, N) @ (N, L')`` products, no ``(B, N, L)``."""
    refs = positives.ref_labels
    entries = _set_entries(refs)
    if candidates is None:
        sums = _sum_over_labels(logits, refs, entries)
        counts = refs.sum(dim=0) if entries is None else torch.bincount(entries[1], minlength=refs.shape[1])
        counts = counts.to(logits.dtype)[None]
    else:
        in_candidates = candidates.to(logits.dtype)
        sums = _sum_over_labels(logits * in_candidates, refs, entries)
        counts = _sum_over_labels(in_candidates, refs, entries)
    active = positives.anchor_labels & (counts > 0)
    label_terms = torch.where(active, normalizer - sums / counts.clamp(min=1), 0)
    num_active = active.sum(dim=1)
    losses = label_terms.sum(dim=1)
    if reduction == "mean":
        losses = losses / num_active.clamp(min=1)
    return losses, num_active > 0


def _weighted_losses(
    logits: Tensor, normalizer: Tensor, candidates: Tensor | None, weights: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor]:
    """``ℓ_i = log Z_i − Σ_a w_ia s_ia / Σ_a w_ia`` over the candidates."""
    weights = weights.to(logits.dtype)
    if candidates is not None:
        weights = weights * candidates
    total = weights.sum(dim=1)
    valid = (total > 0) & labels.any(dim=1)
    losses = normalizer.squeeze(1) - (weights * logits).sum(dim=1) / torch.where(valid, total, 1)
    return torch.where(valid, losses, 0), valid


def per_anchor_losses(
    logits: Tensor,
    labels: Tensor,
    ref_labels: Tensor,
    candidates: Tensor | None = None,
    positives: str = "per_label",
    label_reduction: str = "sum",
) -> tuple[Tensor, Tensor]:
    """Per-anchor losses ``ℓ_i`` (0 where invalid) and the ``valid`` mask from scaled similarities.

    ``logits`` is ``s_ia`` ``(B, N)`` (similarities already divided by τ); ``labels`` ``(B, L)`` and
    ``ref_labels`` ``(N, L)`` are bool multi-hot; ``candidates`` is a ``(B, N)`` bool mask or ``None`` (all).
    """
    _check_label_reduction(label_reduction)
    found = get_positive(positives)(labels, ref_labels)
    if not isinstance(found, LabelPositives) and found.shape != logits.shape:
        raise ValueError(
            f"positives={positives!r} returned weights of shape {tuple(found.shape)}, "
            f"expected {tuple(logits.shape)}"
        )
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    with torch.autocast(
        logits.device.type, enabled=False
    ):  # half-precision counts would be inexact past 2048
        normalizer = _log_normalizer(logits, candidates)
        if isinstance(found, LabelPositives):
            return _per_label_losses(logits, normalizer, candidates, found, label_reduction)
        return _weighted_losses(logits, normalizer, candidates, found, labels)


def cacl_per_anchor(
    embeddings: Tensor,
    labels: Tensor,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    temperature: float = 0.1,
    positives: str = "per_label",
    label_reduction: str = "sum",
) -> tuple[Tensor, Tensor]:
    """CACL per anchor: ``(losses (B,), valid (B,) bool)``; see :func:`cacl_loss` for the arguments."""
    _check_temperature(temperature)
    anchor_labels, reference_labels = as_label_matrices(embeddings, labels, ref_emb, ref_labels, positives)
    queries = F.normalize(embeddings, dim=1)
    refs = queries if ref_emb is None else F.normalize(ref_emb, dim=1)
    logits = queries @ refs.T / temperature
    candidates = candidate_mask(len(queries), len(refs), queries.device, exclude_self=ref_emb is None)
    return per_anchor_losses(logits, anchor_labels, reference_labels, candidates, positives, label_reduction)


def cacl_loss(
    embeddings: Tensor,
    labels: Tensor,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    temperature: float = 0.1,
    positives: str = "per_label",
    label_reduction: str = "sum",
) -> Tensor:
    """The CACL loss: mean of ``ℓ_i`` over anchors with a label and a positive (0, on the graph, if none).

    Args:
        embeddings: ``(B, d)`` anchors.
        labels: ``(B, L)`` multi-hot (bool, int or float 0/1; dense or torch sparse COO/CSR, whose cost follows
            the labels present, not ``L``) or ``(B,)`` integer class ids.
        ref_emb, ref_labels: references ``(N, d)`` and their labels (dense or sparse); ``None`` compares the
            batch with itself.
        temperature: τ > 0 (default 0.1, SupCon's; ``UCLAF`` and the CLI default to 1, see ``docs/RESULTS.md``).
        positives: a name in :data:`uclaf_plugin.positives.POSITIVES`
            (``per_label``, ``any``, ``all``, ``jaccard``).
        label_reduction: ``"sum"`` or ``"mean"`` over an anchor's labels (``per_label`` only).
    """
    losses, valid = cacl_per_anchor(
        embeddings, labels, ref_emb, ref_labels, temperature, positives, label_reduction
    )
    return losses.sum() / valid.sum().clamp(min=1)


class CACLLoss(BaseMetricLossFunction):
    """CACL as a PML loss: ``loss(embeddings, labels, indices_tuple=None, ref_emb=None, ref_labels=None)``.

    ``labels`` are ``(B, L)`` multi-hot (dense, or torch sparse COO/CSR for large ``L``) or ``(B,)`` class ids
    (with class ids and ``positives="per_label"`` this is PML's ``SupConLoss``). ``indices_tuple`` (from a
    miner) restricts the candidates ``A(i)`` to the pairs it names; positives still come from the labels. It
    returns one element per valid anchor, so PML reducers apply (the default ``MeanReducer`` gives the mean
    over valid anchors), and ``pml_kwargs``
    (``reducer``, ``embedding_regularizer``, ``distance``: any similarity, default ``CosineSimilarity``) work
    as in PML. Under ``DistributedLossWrapper`` use ``efficient=False`` for multi-hot labels: PML's
    efficient path builds its pairs with 1-D label comparisons.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        positives: str = "per_label",
        label_reduction: str = "sum",
        **pml_kwargs,
    ):
        _check_temperature(temperature)
        _check_label_reduction(label_reduction)
        get_positive(positives)
        super().__init__(**pml_kwargs)
        if not self.distance.is_inverted:
            raise ValueError(
                f"distance must be a similarity (is_inverted=True), got {type(self.distance).__name__}"
            )
        self.temperature = temperature
        self.positives = positives
        self.label_reduction = label_reduction
        self.add_to_recordable_attributes(list_of_names=["temperature"], is_stat=False)

    def get_default_distance(self):
        return CosineSimilarity()

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor,
        indices_tuple: tuple[Tensor, ...] | None = None,
        ref_emb: Tensor | None = None,
        ref_labels: Tensor | None = None,
    ) -> Tensor:
        """PML's forward with multi-hot labels; ``ref_emb=None`` compares the batch with itself minus self."""
        self.reset_stats()
        if labels is None:
            raise ValueError("labels are required: CACLLoss finds positives from labels")
        anchor_labels, reference_labels = as_label_matrices(
            embeddings, labels, ref_emb, ref_labels, self.positives
        )
        loss_dict = self.compute_loss(embeddings, anchor_labels, indices_tuple, ref_emb, reference_labels)
        self.add_embedding_regularization_to_loss_dict(loss_dict, embeddings)
        return self.reducer(loss_dict, embeddings, labels)

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb, ref_labels):
        """PML loss dict with one ``element`` loss per valid anchor; ``labels`` are bool multi-hot here."""
        logits = self.distance(embeddings, ref_emb) / self.temperature
        candidates = candidate_mask(*logits.shape, logits.device, indices_tuple, exclude_self=ref_emb is None)
        losses, valid = per_anchor_losses(
            logits, labels, ref_labels, candidates, self.positives, self.label_reduction
        )
        anchors = valid.nonzero().squeeze(1)
        if len(anchors) == 0:
            return self.zero_losses()
        return {"loss": {"losses": losses[anchors], "indices": anchors, "reduction_type": "element"}}


__all__ = [
    "CACLLoss",
    "as_label_matrices",
    "cacl_loss",
    "cacl_per_anchor",
    "candidate_mask",
    "per_anchor_losses",
]
