"""The momentum-contrast branch: query projection, momentum key encoder and projection, queue, injected loss.

MoCo (He et al., 2020; its ``moco/builder.py``) with multi-hot labels, as UCLAF uses it (paper §5, eqs. 5-11): the
key encoder is an EMA copy of the query encoder, updated at the start of every training forward, so no training
loop needs a hook; keys of earlier batches wait in a :class:`~uclaf_plugin.memory.MultiLabelQueue` with their
labels; the loss is injected, PML-style (``loss(queries, labels, ref_emb=..., ref_labels=...)``), and is
:class:`~uclaf_plugin.losses.CACLLoss` by default. :class:`~uclaf_plugin.model.UCLAF` and the LibMultiLabel
:class:`~uclaf_plugin.integrations.libmultilabel.UCLAFNetwork` both use this one module.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .heads import masked_mean_pool
from .losses import CACLLoss
from .memory import MultiLabelQueue, momentum_copy, momentum_update
from .sparse_labels import stack_label_rows

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


class MomentumContrast(nn.Module):
    """Contrastive term of a batch against momentum keys and a queue of earlier keys (MoCo, multi-hot labels).

    Args:
        encoder: the query encoder (``output_dim``; ``forward(ids, mask) -> (features (B,T,d), mask)``); the key
            encoder starts as a frozen copy of it.
        num_labels: width of the multi-hot labels kept in the queue.
        loss: called as ``loss(queries (B,p), labels (B,L), ref_emb=(N,p), ref_labels=(N,L))``; default
            ``CACLLoss()`` (per-label positives).
        projection_dim: size ``p`` of the contrastive embedding. queue_size: keys kept (0: no queue).
        momentum: EMA coefficient ``m`` of the key branch, in [0, 1].
        key_precision: ``"fp32"`` (the caller's autocast, if any), ``"bf16"`` (bf16 autocast for the key branch
            alone) or ``"auto"`` (bf16 on CPUs with native bf16, else fp32). Keys carry no gradient.

    Raises ``ValueError`` for a momentum outside [0, 1] or an unknown key precision.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_labels: int,
        loss: nn.Module | None = None,
        *,
        projection_dim: int = 128,
        queue_size: int = 512,
        momentum: float = 0.999,
        key_precision: str = "fp32",
    ):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if key_precision not in KEY_PRECISIONS:
            raise ValueError(f"key_precision={key_precision!r} is not valid; choose one of {KEY_PRECISIONS}")
        self.momentum = momentum
        self.key_precision = key_precision
        self.projection = ProjectionHead(encoder.output_dim, projection_dim)
        self.key_encoder = momentum_copy(encoder)
        self.key_projection = momentum_copy(self.projection)
        self.loss = loss if loss is not None else CACLLoss()
        self.queue = MultiLabelQueue(queue_size, projection_dim, num_labels) if queue_size > 0 else None
        # Weights may be re-initialised after construction (LibMultiLabel's init_weight): the first update copies.
        self.register_buffer("keys_synced", torch.zeros((), dtype=torch.bool))
        # the buffer's value, kept on the host too so that a training step never reads the device for it
        self._keys_synced_on_host = False

    def forward(
        self,
        encoder: nn.Module,
        features: Tensor,
        mask: Tensor,
        key_ids: Tensor,
        key_mask: Tensor,
        labels: Tensor,
    ) -> Tensor:
        """The loss of queries ``(B, p)`` from the query ``features (B,T,d)`` against ``[keys; queue]``.

        ``labels``: multi-hot ``(B, L)``, dense or torch sparse (COO/CSR) for large label spaces.

        First the key branch takes its EMA step towards ``encoder`` (the query encoder, whose weights the last
        optimizer step changed) and the query projection, as MoCo's builder does; then the key view
        ``key_ids, key_mask (B,T')`` is encoded; after the loss, the keys and ``labels (B,L)`` enter the queue.
        """
        self.momentum_update(encoder)
        queries = F.normalize(self.projection(masked_mean_pool(features, mask)).float(), dim=-1)
        keys = self.encode_keys(key_ids, key_mask)
        ref_emb, ref_labels = self._references(keys, labels)
        loss = self.loss(queries, labels, ref_emb=ref_emb, ref_labels=ref_labels)
        if self.queue is not None:
            self.queue.enqueue(keys, labels)
        return loss

    @torch.no_grad()
    def momentum_update(self, encoder: nn.Module) -> None:
        """``θ_k ← m·θ_k + (1−m)·θ_q`` for the key encoder and projection (a plain copy the first time)."""
        momentum = self.momentum if self._keys_synced_on_host else 0.0
        momentum_update(self.key_encoder, encoder, momentum)
        momentum_update(self.key_projection, self.projection, momentum)
        self.keys_synced.fill_(True)
        self._keys_synced_on_host = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        saved = state_dict.get(prefix + "keys_synced")
        if saved is not None:
            self._keys_synced_on_host = bool(saved)

    @torch.no_grad()
    def encode_keys(self, key_ids: Tensor, key_mask: Tensor) -> Tensor:
        """L2-normalised keys ``(B, p)`` in fp32 of the key view, in the key precision; no gradient."""
        self.key_encoder.train(self.training)
        with self._key_autocast(key_ids.device.type):
            features, mask = self.key_encoder(key_ids, key_mask)
            keys = self.key_projection(masked_mean_pool(features, mask))
        return F.normalize(keys.float(), dim=-1)

    def _key_autocast(self, device_type: str) -> contextlib.AbstractContextManager:
        """bf16 autocast when the key precision resolves to ``"bf16"``; otherwise the caller's setting stays."""
        if resolve_key_precision(self.key_precision, device_type) == "bf16":
            return torch.autocast(device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _references(self, keys: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if self.queue is None or len(self.queue) == 0:
            return keys, labels
        queued_keys = self.queue.embeddings.to(keys.dtype)
        return torch.cat([keys, queued_keys]), stack_label_rows(labels, self.queue.labels)


__all__ = ["KEY_PRECISIONS", "MomentumContrast", "ProjectionHead", "resolve_key_precision"]
