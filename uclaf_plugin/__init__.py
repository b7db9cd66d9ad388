"""UCLAF for multi-label text classification.

Public API (imported lazily, so ``import uclaf_plugin`` stays cheap and the CLI starts fast):

- :class:`CACLLoss`, :func:`cacl_loss`: the correlation-aware contrastive loss (a pytorch-metric-learning loss).
- :class:`MultiLabelQueue`, :class:`MultiLabelCrossBatchMemory`, :func:`momentum_update`: cross-batch memory.
- :class:`LabelAttentionHead`, :class:`DotLabelAttentionHead`, :class:`LinearHead`: classification heads, each
  returning a :class:`HeadOutput` (logits, optional attention).
- :class:`MomentumContrast`: the contrastive branch (momentum key encoder, projection, queue, injected loss).
- :class:`UCLAF`: encoder + head + contrastive branch, returning a :class:`UCLAFOutput` (logits, losses).
- :class:`Trainer`: the training loop over tensor batches; :class:`TextTrainer`: fits a text classifier on texts.
- :class:`UCLAFClassifier`: a scikit-learn / scikit-multilearn estimator.
- :func:`load_dataset`, :func:`evaluate`.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "CACLLoss": "losses",
    "cacl_loss": "losses",
    "MultiLabelQueue": "memory",
    "MultiLabelCrossBatchMemory": "memory",
    "momentum_update": "memory",
    "LabelAttentionHead": "heads",
    "DotLabelAttentionHead": "heads",
    "LinearHead": "heads",
    "HeadOutput": "heads",
    "MomentumContrast": "contrastive",
    "UCLAF": "model",
    "UCLAFOutput": "model",
    "Trainer": "train",
    "TextTrainer": "text_trainer",
    "UCLAFClassifier": "integrations.sklearn",
    "load_dataset": "data",
    "evaluate": "metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'uclaf_plugin' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
