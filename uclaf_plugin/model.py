"""UCLAF = encoder + head (query branch) + contrastive branch (projection, momentum key encoder, queue).

Training loss: ``BCE(logits, Y) + λ · CACLLoss(z_q, Y, ref_emb=[z_k; queue], ref_labels=[Y; queue_labels])``.
Inference uses the query encoder and the head only.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import nn

from .augment import AUGMENTATIONS, make_view
from .heads import build_head, masked_mean_pool
from .losses import CACLLoss
from .memory import MultiLabelQueue, momentum_copy, momentum_update
from .sparse_labels import is_sparse, multi_hot_bce, stack_label_rows

CONTRASTIVE_MODES = ("per_label", "any", "all", "jaccard")
KEY_PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache  # asked on every training step; the CPU does not change
def native_cpu_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX), so bf16 autocast is faster there."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def resolve_key_precision(key_precision: str, device_type: str) -> str:
    """The precision ``"auto"`` stands for on ``device_type``: ``"bf16"`` on a CPU with native bf16, else ``"fp32"``."""
    if key_precision != "auto":
        return key_precision
    return "bf16" if device_type == "cpu" and native_cpu_bf16() else "fp32"


class ProjectionHead(nn.Sequential):
    """Two-layer MLP from pooled features to the contrastive space (SimCLR/MoCo v2 style)."""

    def __init__(self, input_dim: int, projection_dim: int):
        super().__init__(nn.Linear(input_dim, input_dim), nn.ReLU(), nn.Linear(input_dim, projection_dim))


class UCLAF(nn.Module):
    """Multi-label classifier with label attention and correlation-aware contrastive learning.

    Args:
        encoder: module with ``output_dim`` and ``forward(input_ids, attention_mask) -> (features, mask)``.
        num_labels: size of the label space.
        head: ``"lan"``, ``"linear"``, ``"dot"`` or ``"xmlcnn"``, or a ready ``nn.Module`` with the head signature.
        contrastive: ``None`` (plain BCE) or a positive definition: ``"per_label"``, ``"any"``, ``"all"``, ``"jaccard"``.
        lambda_: weight of the contrastive term.
        temperature: τ of CACL.
        queue_size: keys kept from earlier batches (0 disables the queue).
        momentum: EMA coefficient of the key encoder.
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
        temperature: float = 0.1,
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
        _check_choice("contrastive", contrastive, (None, *CONTRASTIVE_MODES))
        _check_choice("augment", augment, tuple(AUGMENTATIONS))
        _check_choice("key_precision", key_precision, KEY_PRECISIONS)
        if augment in ("random_mask", "span_mask") and mask_token_id is None:
            raise ValueError(f"augment={augment!r} needs mask_token_id (the tokenizer's mask token)")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.encoder = encoder
        self.num_labels = num_labels
        self.head = (
            head
            if isinstance(head, nn.Module)
            else _build_head(head, encoder.output_dim, num_labels, head_kwargs)
        )
        self.contrastive = contrastive
        self.lambda_ = lambda_
        self.momentum = momentum
        self.augment = augment
        self.key_precision = key_precision
        self.mask_token_id = mask_token_id
        self.special_token_ids = tuple(special_token_ids)
        if contrastive is not None:
            self.projection = ProjectionHead(encoder.output_dim, projection_dim)
            self.key_encoder = momentum_copy(encoder)
            self.key_projection = momentum_copy(self.projection)
            self.contrastive_loss = CACLLoss(temperature=temperature, positives=contrastive)
            self.queue = MultiLabelQueue(queue_size, projection_dim, num_labels) if queue_size > 0 else None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_attention: bool = False,
    ):
        """Without ``labels``: logits ``(B, L)`` (and attention ``(B, L, T)`` when asked and the head has it).

        With multi-hot ``labels`` (dense, or torch sparse COO/CSR for large label spaces): the training loss as a
        dict with ``loss``, ``bce`` and ``contrastive`` (BCE plus λ·CACL against the momentum keys and the queue);
        the keys are then enqueued. Training goes through ``forward`` so that DistributedDataParallel syncs the
        gradients.
        """
        features, mask = self.encoder(input_ids, attention_mask)
        if labels is None:
            return self.head(features, mask, return_attention=return_attention)
        logits = self.head(features, mask)
        targets = labels if is_sparse(labels) else labels.float()
        bce = multi_hot_bce(logits.float(), targets)
        if self.contrastive is None:
            return {"loss": bce, "bce": bce.detach(), "contrastive": None}
        query = F.normalize(self.projection(masked_mean_pool(features, mask)).float(), dim=-1)
        keys = self._encode_keys(input_ids, attention_mask)
        ref_emb, ref_labels = self._references(keys, targets)
        contrastive = self.contrastive_loss(query, targets, ref_emb=ref_emb, ref_labels=ref_labels)
        if self.queue is not None:
            self.queue.enqueue(keys, targets)
        return {
            "loss": bce + self.lambda_ * contrastive,
            "bce": bce.detach(),
            "contrastive": contrastive.detach(),
        }

    @torch.no_grad()
    def momentum_step(self) -> None:
        """EMA update of the key encoder and projection; call after each optimizer step."""
        if self.contrastive is not None:
            momentum_update(self.key_encoder, self.encoder, self.momentum)
            momentum_update(self.key_projection, self.projection, self.momentum)

    @torch.no_grad()
    def _encode_keys(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        view_ids, view_mask = make_view(
            self.augment,
            input_ids,
            attention_mask,
            mask_token_id=self.mask_token_id,
            special_token_ids=self.special_token_ids,
        )
        self.key_encoder.train(self.training)
        with self._key_autocast(input_ids.device.type):
            features, mask = self.key_encoder(view_ids, view_mask)
            keys = self.key_projection(masked_mean_pool(features, mask))
        return F.normalize(keys.float(), dim=-1)

    def _key_autocast(self, device_type: str) -> contextlib.AbstractContextManager:
        """bf16 autocast when the key precision resolves to ``"bf16"``; otherwise the caller's setting stays."""
        if resolve_key_precision(self.key_precision, device_type) == "bf16":
            return torch.autocast(device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _references(self, keys: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.queue is None or len(self.queue.embeddings) == 0:
            return keys, targets
        queued_keys = self.queue.embeddings.to(keys.dtype)
        return torch.cat([keys, queued_keys]), stack_label_rows(targets, self.queue.labels)


def _build_head(name: str, input_dim: int, num_labels: int, head_kwargs: dict | None) -> nn.Module:
    if name == "xmlcnn":
        from .adapters.xmlcnn import XMLCNNHead

        return XMLCNNHead(input_dim, num_labels, **(head_kwargs or {}))
    return build_head(name, input_dim, num_labels, **(head_kwargs or {}))


def _check_choice(argument: str, value, valid: tuple) -> None:
    if value not in valid:
        names = ", ".join(repr(v) for v in valid)
        raise ValueError(f"{argument}={value!r} is not valid; choose one of {names}")
