"""UCLAF = encoder + head (query branch) + :class:`~uclaf_plugin.contrastive.MomentumContrast` (projection, momentum
key encoder, queue, CACL).

Training loss: ``BCE(logits, Y) + λ · CACLLoss(z_q, Y, ref_emb=[z_k; queue], ref_labels=[Y; queue_labels])``.
Inference uses the query encoder and the head only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .augment import AUGMENTATIONS, make_view
from .constraints import Options, check_settings
from .contrastive import KEY_PRECISIONS, MomentumContrast, ProjectionHead, resolve_key_precision
from .heads import build_head
from .losses import CACLLoss
from .positives import POSITIVES
from .sparse_labels import is_sparse, multi_hot_bce

# Names of the old attributes of UCLAF's contrastive branch in saved weights, now under ``momentum_contrast``.
LEGACY_BRANCH_KEYS = {
    "projection.": "momentum_contrast.projection.",
    "key_encoder.": "momentum_contrast.key_encoder.",
    "key_projection.": "momentum_contrast.key_projection.",
    "queue.": "momentum_contrast.queue.",
}


_CHOICES = {"augment": [Options(tuple(AUGMENTATIONS))], "key_precision": [Options(KEY_PRECISIONS)]}


@dataclass(frozen=True)
class UCLAFOutput:
    """What :meth:`UCLAF.forward` returns, with or without labels.

    Attributes:
        logits: ``(B, L)`` label scores before the sigmoid. Without labels: always. With labels: the logits the
            BCE term was computed on, or ``None`` when the head computes its own training loss (``head.loss``:
            LAN, AttentionXML), whose logits are not a plain ``(B, L)`` pass (no second head pass is made).
        attention: ``(B, L, T)`` label-wise attention, only without labels, with ``return_attention=True`` and a
            head that has it (:class:`~uclaf_plugin.heads.HeadOutput`); else ``None``.
        loss: with labels, the training loss ``bce + λ · contrastive`` (paper eq. 12), a scalar that carries the
            gradient; ``None`` without labels.
        bce: with labels, the BCE term (detached scalar); ``None`` without labels.
        contrastive: with labels and a contrastive branch, the CACL term (detached scalar); else ``None``.
    """

    logits: Tensor | None = None
    attention: Tensor | None = None
    loss: Tensor | None = None
    bce: Tensor | None = None
    contrastive: Tensor | None = None

    def losses(self) -> dict[str, Tensor]:
        """The loss terms that are set, by name (``loss``, ``bce``, ``contrastive``, in that order)."""
        terms = {"loss": self.loss, "bce": self.bce, "contrastive": self.contrastive}
        return {name: value for name, value in terms.items() if value is not None}


class UCLAF(nn.Module):
    """Multi-label classifier with label attention and correlation-aware contrastive learning.

    Args:
        encoder: module with ``output_dim`` and ``forward(input_ids, attention_mask) -> (features, mask)``.
        num_labels: size of the label space.
        head: ``"lan"``, ``"linear"``, ``"dot"``, ``"xmlcnn"``, ``"attentionxml"`` (label clusters + shortlist), or a
            ready ``nn.Module`` with the head signature.
        contrastive: ``None`` (plain BCE) or the name of a positive definition of CACL: ``"per_label"``, ``"any"``,
            ``"all"``, ``"jaccard"`` or one added with :func:`~uclaf_plugin.positives.register_positive`.
        lambda_: weight of the contrastive term.
        temperature: τ of CACL (default 1; the paper uses 5 on AAPD and 3 on EURLex; 0.1, SupCon's, ranked
            last in our sweeps on AAPD and GoEmotions, docs/RESULTS.md).
        queue_size: keys kept from earlier batches (0 disables the queue).
        momentum: EMA coefficient of the key encoder, which takes its step inside each training ``forward``.
        projection_dim: size of the contrastive embedding.
        augment: second view fed to the key encoder (see :data:`uclaf_plugin.augment.AUGMENTATIONS`).
        key_precision: ``"fp32"`` runs the key branch like the rest of the step (under the caller's autocast,
            if any); ``"bf16"`` runs it under bf16 autocast even when the step is fp32, which cuts the key
            forward on CPUs with native bf16 (AVX512-BF16, AMX); ``"auto"`` (default) is ``"bf16"`` on such
            CPUs and ``"fp32"`` elsewhere, CUDA included. Keys carry no gradient.
        mask_token_id, special_token_ids: used by the token-level augmentations.
        head_kwargs: extra arguments for the head (e.g. ``label_init``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_labels: int,
        head: str | nn.Module = "lan",
        contrastive: str | None = "per_label",
        lambda_: float = 0.5,
        temperature: float = 1.0,
        queue_size: int = 512,
        momentum: float = 0.999,
        projection_dim: int = 128,
        augment: str = "dropout",
        key_precision: str = "auto",
        mask_token_id: int | None = None,
        special_token_ids: tuple[int, ...] = (),
        head_kwargs: dict | None = None,
    ):
        super().__init__()
        if contrastive is not None and contrastive not in POSITIVES:
            raise ValueError(
                f"contrastive={contrastive!r} is not a registered positive definition; choose one of "
                f"{sorted(POSITIVES)} or add yours with uclaf_plugin.positives.register_positive"
            )
        check_settings({"augment": augment, "key_precision": key_precision}, _CHOICES)
        if augment in ("random_mask", "span_mask") and mask_token_id is None:
            raise ValueError(f"augment={augment!r} needs mask_token_id (the tokenizer's mask token)")
        self.encoder = encoder
        self.num_labels = num_labels
        self.head = (
            head
            if isinstance(head, nn.Module)
            else build_head(head, encoder.output_dim, num_labels, **(head_kwargs or {}))
        )
        self.contrastive = contrastive
        self.lambda_ = lambda_
        self.augment = augment
        self.mask_token_id = mask_token_id
        self.special_token_ids = tuple(special_token_ids)
        self._key_precision = key_precision
        self.momentum_contrast = None
        if contrastive is not None:
            self.momentum_contrast = MomentumContrast(
                encoder,
                num_labels,
                CACLLoss(temperature=temperature, positives=contrastive),
                projection_dim=projection_dim,
                queue_size=queue_size,
                momentum=momentum,
                key_precision=key_precision,
            )
        elif not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self._register_load_state_dict_pre_hook(_rename_legacy_branch_keys)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        labels: Tensor | None = None,
        return_attention: bool = False,
    ) -> UCLAFOutput:
        """Score ``input_ids (B, T)`` with ``attention_mask (B, T)``; train on them when ``labels`` are given.

        Without ``labels``: :class:`UCLAFOutput` with logits ``(B, L)`` (and attention ``(B, L, T)`` when asked
        and the head has it). With multi-hot ``labels (B, L)`` (dense, or torch sparse COO/CSR for large label
        spaces): the training loss ``bce + λ · contrastive`` (BCE plus λ·CACL against the momentum keys and the
        queue), its two terms, and the logits where the BCE was computed on them; the keys are then enqueued.
        Training goes through ``forward`` so that DistributedDataParallel syncs the gradients.
        """
        features, mask = self.encoder(input_ids, attention_mask)
        if labels is None:
            head_output = self.head(features, mask, return_attention=return_attention)
            return UCLAFOutput(head_output.logits, head_output.attention)
        targets = labels if is_sparse(labels) else labels.float()
        # a head may own its training loss (LAN: the shortlisted candidates' BCE plus its proposal scorer's)
        logits = None
        if hasattr(self.head, "loss"):
            bce = self.head.loss(features, mask, targets)
        else:
            logits = self.head(features, mask).logits
            bce = multi_hot_bce(logits.float(), targets)
        if self.momentum_contrast is None:
            return UCLAFOutput(logits, loss=bce, bce=bce.detach())
        view_ids, view_mask = make_view(
            self.augment,
            input_ids,
            attention_mask,
            mask_token_id=self.mask_token_id,
            special_token_ids=self.special_token_ids,
        )
        contrastive = self.momentum_contrast(self.encoder, features, mask, view_ids, view_mask, labels)
        return UCLAFOutput(
            logits,
            loss=bce + self.lambda_ * contrastive,
            bce=bce.detach(),
            contrastive=contrastive.detach(),
        )

    @property
    def key_precision(self) -> str:
        """The key branch's precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (kept, unused, without a branch)."""
        return (
            self.momentum_contrast.key_precision
            if self.momentum_contrast is not None
            else self._key_precision
        )

    @key_precision.setter
    def key_precision(self, value: str) -> None:
        check_settings({"key_precision": value}, _CHOICES)
        self._key_precision = value
        if self.momentum_contrast is not None:
            self.momentum_contrast.key_precision = value


__all__ = ["KEY_PRECISIONS", "UCLAF", "UCLAFOutput", "ProjectionHead", "resolve_key_precision"]


def _rename_legacy_branch_keys(state_dict, prefix, *args) -> None:
    """Load weights saved before the branch became ``momentum_contrast`` (its keys had taken their EMA step)."""
    renamed = False
    for key in [key for key in state_dict if key.startswith(prefix)]:
        local = key[len(prefix) :]
        for old, new in LEGACY_BRANCH_KEYS.items():
            if local.startswith(old):
                state_dict[prefix + new + local[len(old) :]] = state_dict.pop(key)
                renamed = True
    if renamed:
        state_dict.setdefault(prefix + "momentum_contrast.keys_synced", torch.ones((), dtype=torch.bool))
