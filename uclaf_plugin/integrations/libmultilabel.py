"""LAN and UCLAF as LibMultiLabel networks (``pip install "uclaf-plugin[libmultilabel]"``).

LibMultiLabel builds a network as ``getattr(libmultilabel.nn.networks, name)(embed_vecs=..., num_classes=...,
**network_config)`` and calls ``network(batch)["logits"]``, where ``batch["text"]`` holds right-padded word ids
(0 = padding) and, in training and validation, ``batch["label"]`` the multi-hot targets; its loop then applies
BCE to the logits and never sees any other output. Importing this module registers :class:`LANNetwork` as
``"LAN"`` and :class:`UCLAFNetwork` as ``"UCLAF"`` in ``libmultilabel.nn.networks`` when LibMultiLabel is
importable, so ``model_name: UCLAF`` in a LibMultiLabel config (or ``nn_utils.init_model("UCLAF", ...)``) finds
them. The networks themselves need only torch.

How the contrastive term reaches LibMultiLabel's loop: in training mode, when the batch has labels,
:class:`UCLAFNetwork` computes ``λ·CACL`` and, with ``inject_contrastive_gradient=True`` (default), attaches its
gradient to the returned logits (the values are unchanged): backpropagating any loss of the logits then also
backpropagates ``λ·CACL``, exactly as if it had been added to that loss once. ``output["contrastive_loss"]``
holds the detached value for logging. With ``inject_contrastive_gradient=False`` the logits are plain and
``output["contrastive_loss"]`` stays on the graph: add it to the loss yourself.
"""

from __future__ import annotations

import importlib.util
import warnings
from types import ModuleType

import torch
from torch import Tensor, nn

from ..contrastive import MomentumContrast
from ..encoders.attentionxml import AttentionXMLStyle
from ..heads import LabelAttentionHead
from ..losses import CACLLoss
from ..positives import POSITIVES

PAD_ID = 0


class LANNetwork(nn.Module):
    """Word embeddings (from ``embed_vecs``) -> BiLSTM -> :class:`~uclaf_plugin.heads.LabelAttentionHead`.

    Args:
        embed_vecs: ``(vocab_size, embed_dim)`` float tensor; the trainable embedding starts from a copy.
        num_classes: number of labels.
        rnn_dim: BiLSTM output width (both directions; even). ``rnn_layers``: stacked LSTM layers.
        embed_dropout: dropout on the word embeddings (and between LSTM layers).
        attention_dim, hidden_dim, label_chunk_size, head_dropout: the label attention head's settings.
    """

    def __init__(
        self,
        embed_vecs: Tensor,
        num_classes: int,
        rnn_dim: int = 512,
        rnn_layers: int = 1,
        embed_dropout: float = 0.2,
        attention_dim: int = 256,
        hidden_dim: int | None = None,
        label_chunk_size: int | None = None,
        head_dropout: float = 0.1,
    ):
        super().__init__()
        if not torch.is_tensor(embed_vecs) or embed_vecs.ndim != 2:
            raise ValueError("embed_vecs must be a (vocab_size, embed_dim) tensor of word vectors")
        if rnn_dim < 2 or rnn_dim % 2:
            raise ValueError(f"rnn_dim must be a positive even number (two LSTM directions), got {rnn_dim}")
        self.encoder = AttentionXMLStyle(
            hidden_size=rnn_dim // 2,
            num_layers=rnn_layers,
            dropout=embed_dropout,
            embedding_weights=embed_vecs,
        )
        self.head = LabelAttentionHead(
            self.encoder.output_dim,
            num_classes,
            attention_dim=attention_dim,
            hidden_dim=hidden_dim,
            label_chunk_size=label_chunk_size,
            dropout=head_dropout,
        )

    def encode(self, text: Tensor) -> tuple[Tensor, Tensor]:
        """Token features ``(B, T, rnn_dim)`` and the bool mask of ``text`` (right-padded ids, 0 = padding)."""
        if not torch.is_tensor(text) or text.ndim != 2 or text.is_floating_point():
            raise ValueError('batch["text"] must be a (batch, length) tensor of word ids, padded with 0')
        return self.encoder(text, text != PAD_ID)

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """``{"logits": (B, num_classes)}`` for ``batch["text"]``."""
        features, mask = self.encode(_text(batch))
        return {"logits": self.head(features, mask).logits}


class UCLAFNetwork(LANNetwork):
    """:class:`LANNetwork` plus UCLAF's contrastive branch, trained as ``BCE + λ·CACL``.

    In training mode with ``batch["label"]``: :class:`~uclaf_plugin.contrastive.MomentumContrast` (the branch
    :class:`~uclaf_plugin.model.UCLAF` uses) takes its EMA step, encodes the same batch with the key encoder under
    other dropout masks and computes ``CACLLoss(queries, Y, ref_emb=[keys; queue], ref_labels=[Y; queue labels])``;
    then the keys enter the queue. Otherwise (evaluation, prediction) it is :class:`LANNetwork`. See the module docstring for how the
    term reaches the loss.

    Args:
        contrastive: positive definition of CACL (``"per_label"``, ``"any"``, ``"all"``, ``"jaccard"``, or one added
            with :func:`~uclaf_plugin.positives.register_positive`).
        lambda_, temperature: weight and τ of the contrastive term.
        queue_size: keys kept from earlier batches (0: none). ``momentum``: EMA coefficient of the key encoder.
        projection_dim: size of the contrastive embedding.
        inject_contrastive_gradient: attach the term's gradient to the logits (for LibMultiLabel's own loop).
        Other arguments: as :class:`LANNetwork`.
    """

    def __init__(
        self,
        embed_vecs: Tensor,
        num_classes: int,
        contrastive: str = "per_label",
        lambda_: float = 0.5,
        temperature: float = 1.0,
        queue_size: int = 512,
        momentum: float = 0.999,
        projection_dim: int = 128,
        inject_contrastive_gradient: bool = True,
        **lan_config,
    ):
        super().__init__(embed_vecs, num_classes, **lan_config)
        if contrastive not in POSITIVES:
            raise ValueError(f"contrastive={contrastive!r} is not valid; choose one of {sorted(POSITIVES)}")
        self.lambda_ = lambda_
        self.inject_contrastive_gradient = inject_contrastive_gradient
        self.momentum_contrast = MomentumContrast(
            self.encoder,
            num_classes,
            CACLLoss(temperature=temperature, positives=contrastive),
            projection_dim=projection_dim,
            queue_size=queue_size,
            momentum=momentum,
        )

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """``{"logits"}``; in training with ``batch["label"]`` also ``{"contrastive_loss"}`` (``λ·CACL``)."""
        text = _text(batch)
        features, mask = self.encode(text)
        logits = self.head(features, mask).logits
        if not (self.training and batch.get("label") is not None):
            return {"logits": logits}
        labels = _labels(batch, logits.shape)
        cacl = self.momentum_contrast(self.encoder, features, mask, text, text != PAD_ID, labels)
        contrastive = self.lambda_ * cacl
        if self.inject_contrastive_gradient:
            return {"logits": add_gradient_of(logits, contrastive), "contrastive_loss": contrastive.detach()}
        return {"logits": logits, "contrastive_loss": contrastive}


class _AddGradientOf(torch.autograd.Function):
    """Identity on ``logits``; backward also sends gradient 1 to ``loss`` (as if ``loss`` were added once)."""

    @staticmethod
    def forward(ctx, logits: Tensor, loss: Tensor) -> Tensor:
        ctx.loss_dtype, ctx.loss_device = loss.dtype, loss.device
        return logits.clone()

    @staticmethod
    def backward(ctx, grad_logits: Tensor):
        return grad_logits, torch.ones((), dtype=ctx.loss_dtype, device=ctx.loss_device)


def add_gradient_of(logits: Tensor, loss: Tensor) -> Tensor:
    """``logits`` unchanged, carrying ``loss``: backward through them also backpropagates the scalar ``loss``.

    Exact when the outer loss uses these logits once and is not rescaled afterwards (plain fp32 training, as
    LibMultiLabel's loop; a ``GradScaler`` would scale only the outer loss).
    """
    if loss.ndim != 0:
        raise ValueError(f"loss must be a scalar, got shape {tuple(loss.shape)}")
    return _AddGradientOf.apply(logits, loss)


def _text(batch: dict) -> Tensor:
    if not isinstance(batch, dict) or "text" not in batch:
        raise ValueError('batch must be a dict with "text": (batch, length) word ids padded with 0')
    return batch["text"]


def _labels(batch: dict, shape: torch.Size) -> Tensor:
    labels = batch["label"]
    if not torch.is_tensor(labels) or labels.shape != shape:
        got = tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__
        raise ValueError(f'batch["label"] must be a multi-hot tensor of shape {tuple(shape)}, got {got}')
    return labels.float()


NETWORKS = {"LAN": LANNetwork, "UCLAF": UCLAFNetwork}


def register_networks(networks: ModuleType) -> list[str]:
    """Add ``LAN`` and ``UCLAF`` to a LibMultiLabel ``networks`` module; returns the names added.

    A name the module already defines as something else is left alone (with a warning).
    """
    added = []
    for name, network in NETWORKS.items():
        existing = getattr(networks, name, None)
        if existing is not None and existing is not network:
            warnings.warn(f"{networks.__name__}.{name} already exists; not replacing it", stacklevel=2)
            continue
        setattr(networks, name, network)
        added.append(name)
    return added


def _register_with_libmultilabel() -> None:
    if importlib.util.find_spec("libmultilabel") is None:
        return
    try:
        from libmultilabel.nn import networks
    except ImportError as error:
        warnings.warn(
            f"libmultilabel is installed but failed to import ({error}); LAN and UCLAF are not registered. "
            'It needs setuptools<81 (pkg_resources): pip install "uclaf-plugin[libmultilabel]"',
            stacklevel=2,
        )
        return
    register_networks(networks)


_register_with_libmultilabel()

__all__ = ["LANNetwork", "UCLAFNetwork", "add_gradient_of", "register_networks"]
