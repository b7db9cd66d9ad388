"""Training: :class:`Trainer` (the loop over tensor batches, :mod:`.loop`), the typed checkpoint
(:mod:`.checkpoint`), torch.distributed helpers (:mod:`.distributed`) and the progress bar (:mod:`.progress_bar`).

Fitting a :class:`~uclaf_plugin.pipeline.TextClassifier` on texts goes through
:class:`~uclaf_plugin.text_trainer.TextTrainer`, which tokenises and batches, then calls :meth:`Trainer.fit`.
"""

from .checkpoint import CHECKPOINT_FILE
from .distributed import TrainingInterrupted
from .loop import LATER_TRAIN_SETTINGS, LOG_FILE, TrainConfig, Trainer, seed_everything

__all__ = [
    "CHECKPOINT_FILE",
    "LATER_TRAIN_SETTINGS",
    "LOG_FILE",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "seed_everything",
]
