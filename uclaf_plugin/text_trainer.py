"""Fit a :class:`~uclaf_plugin.pipeline.TextClassifier` on texts: tokenise, batch, then run the trainer's loop.

``TextTrainer(classifier, TrainConfig(...), output_dir).fit(train_texts, train_targets, val_texts, val_targets)``
tokenises the texts once (``TextClassifier.tokenize``), hands :class:`~uclaf_plugin.data.batches.EpochBatches` to
:meth:`Trainer.fit <uclaf_plugin.train.Trainer.fit>` with the validation metrics as its ``validate`` and
``TextClassifier.save`` as its ``save_model``, and keeps the best epoch's weights in ``classifier``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .data.batches import EpochBatches, as_label_matrix
from .metrics import evaluate
from .pipeline import TextClassifier
from .train import TrainConfig, Trainer


class TextTrainer:
    """Trains ``classifier`` on texts and multi-hot targets; evaluates it on texts.

    Args:
        classifier: the model with its tokenizer and label names.
        config: a :class:`~uclaf_plugin.train.TrainConfig`.
        output_dir: where checkpoints, the best model and ``train_log.jsonl`` go (``None``: nothing on disk).
    """

    def __init__(
        self,
        classifier: TextClassifier,
        config: TrainConfig | None = None,
        output_dir: str | Path | None = None,
    ):
        self.classifier = classifier
        self.trainer = Trainer(config, output_dir)

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    @property
    def is_main(self) -> bool:
        return self.trainer.is_main

    def fit(self, train_texts, train_targets, val_texts=None, val_targets=None, resume: bool = False) -> dict:
        """Train on ``train_texts`` and multi-hot ``train_targets`` ``(n, L)``; validate on ``val_texts`` each epoch.

        Returns :meth:`Trainer.fit <uclaf_plugin.train.Trainer.fit>`'s summary (history, best epoch, wall time,
        docs/s, peak memory). Raises ``ValueError`` naming the argument for targets of another shape.
        """
        token_ids = self.classifier.tokenize(train_texts)
        targets = self._label_matrix(train_targets, len(token_ids), "train_targets")
        config = self.config
        batches = EpochBatches(
            token_ids,
            targets,
            self.classifier.tokenizer.pad_token_id,
            config.batch_size,
            seed=config.seed,
            group_by_length=config.group_by_length,
            rank=self.trainer.rank,
            world_size=self.trainer.world_size,
        )
        validate = None
        if val_texts is not None and len(val_texts):
            val_matrix = self._label_matrix(val_targets, len(val_texts), "val_targets")
            validate = functools.partial(self.evaluate, val_texts, val_matrix)
        model = self.classifier.model
        return self.trainer.fit(model, batches, validate, save_model=self.classifier.save, resume=resume)

    def evaluate(self, texts, targets, propensities=None, label_counts=None) -> dict:
        """Metrics of the current model on ``texts`` (P@k, RP@k, nDCG@k, F1 at ``config.threshold``).

        ``label_counts``: train documents per label, to add the frequent/few/zero groups (see `metrics.evaluate`).
        """
        scores = self.classifier.scores(texts, batch_size=self.config.eval_batch_size, device=self.device)
        return evaluate(
            scores,
            self._label_matrix(targets, len(texts), "targets"),
            propensities=propensities,
            threshold=self.config.threshold,
            label_counts=label_counts,
        )

    def _label_matrix(self, targets, num_docs: int, argument: str):
        return as_label_matrix(targets, num_docs, len(self.classifier.label_names), argument)
