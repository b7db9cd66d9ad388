"""UCLAF as a scikit-learn / scikit-multilearn estimator: ``UCLAFClassifier().fit(texts, Y).predict(texts)``.

``X`` is a sequence of strings (a list, a 1-D array or a pandas Series); ``Y`` an ``(n, L)`` binary indicator
matrix, dense or scipy sparse. The estimator follows scikit-learn's rules (parameters stored unchanged in
``__init__``, learned state in attributes ending in ``_``), so ``clone``, ``GridSearchCV``, ``Pipeline`` and
scikit-multilearn's ``IterativeStratification`` work with it.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted
from skmultilearn.base import MLClassifierBase

from ..metrics import top_k
from ..pipeline import ModelConfig, TextClassifier, pad_batch
from ..text_trainer import TextTrainer
from ..thresholds import OBJECTIVES, tune_thresholds
from ..train import TrainConfig, seed_everything


class UCLAFClassifier(MLClassifierBase):
    """Multi-label text classifier: encoder + head (LAN by default) trained with ``BCE + λ·CACL``.

    Args:
        encoder, head, contrastive, lambda_, temperature, queue_size, max_length, init_embeddings,
            encoder_kwargs, head_kwargs: the model, as in :class:`~uclaf_plugin.pipeline.ModelConfig`
            (``None`` kwargs mean ``{}``).
        epochs, batch_size, lr, head_lr, device: optimisation, as in :class:`~uclaf_plugin.train.TrainConfig`.
        random_state: integer seed of the initial weights and the batch order.
        threshold: ``predict`` marks the labels whose ``predict_proba`` score is ``>= threshold``; ``"tuned"``:
            hold out ``validation_fraction`` of the training documents (seeded), train on the rest, and tune one
            threshold per label on the held-out ones (:func:`uclaf_plugin.thresholds.tune_thresholds`, maximising
            ``threshold_objective``; ``min_labels >= 1`` tunes with the at-least-one rule).
        threshold_objective: ``"micro-F1"`` or ``"macro-F1"`` (with ``threshold="tuned"``).
        validation_fraction: share of the training documents held out to tune thresholds (with ``"tuned"``).
        top_k: when set, ``predict`` marks exactly the ``top_k`` best labels of each document instead.
        min_labels: with ``threshold``, every document also gets its ``min_labels`` best labels (0: none).
        eval_batch_size: documents per forward pass in ``predict``/``predict_proba``/``decision_function``.

    After ``fit``: ``classes_`` (label indices ``0..L-1``, also the model's label names ``"0".."L-1"``),
    ``classifier_`` (the trained :class:`~uclaf_plugin.pipeline.TextClassifier`), ``history_``
    (what :meth:`~uclaf_plugin.text_trainer.TextTrainer.fit` returned) and ``thresholds_`` (the tuned
    :class:`~uclaf_plugin.thresholds.Thresholds`, or ``None`` unless ``threshold="tuned"``).
    """

    def __init__(
        self,
        encoder: str = "minilm",
        head: str = "lan",
        contrastive: str | None = "per_label",
        lambda_: float = 0.5,
        temperature: float = 1.0,
        queue_size: int = 512,
        epochs: int = 3,
        batch_size: int = 16,
        max_length: int = 128,
        lr: float = 5e-5,
        head_lr: float | None = 1e-3,
        device: str = "auto",
        random_state: int = 0,
        threshold: float | str = 0.5,
        top_k: int | None = None,
        min_labels: int = 0,
        init_embeddings: bool = True,
        encoder_kwargs: dict | None = None,
        head_kwargs: dict | None = None,
        eval_batch_size: int = 64,
        threshold_objective: str = "micro-F1",
        validation_fraction: float = 0.1,
    ):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.contrastive = contrastive
        self.lambda_ = lambda_
        self.temperature = temperature
        self.queue_size = queue_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_length = max_length
        self.lr = lr
        self.head_lr = head_lr
        self.device = device
        self.random_state = random_state
        self.threshold = threshold
        self.top_k = top_k
        self.min_labels = min_labels
        self.init_embeddings = init_embeddings
        self.encoder_kwargs = encoder_kwargs
        self.head_kwargs = head_kwargs
        self.eval_batch_size = eval_batch_size
        self.threshold_objective = threshold_objective
        self.validation_fraction = validation_fraction
        self.copyable_attrs = self._get_param_names()

    def fit(self, X, y) -> UCLAFClassifier:
        """Train a fresh model on texts ``X`` and the ``(n, L)`` binary indicator matrix ``y``."""
        texts = check_texts(X)
        targets = check_targets(y, len(texts))
        self._check_decision_rule(targets.shape[1])
        seed_everything(self.random_state)
        self.classes_ = np.arange(targets.shape[1])
        self.classifier_ = TextClassifier.from_config(
            self._model_config(), [str(c) for c in self.classes_], train_targets=targets
        )
        if self.threshold != "tuned":
            self.history_ = TextTrainer(self.classifier_, self._train_config()).fit(texts, targets)
            self.thresholds_ = None
            return self
        kept, held_out = self._validation_split(len(texts))
        self.history_ = TextTrainer(self.classifier_, self._train_config()).fit(
            [texts[i] for i in kept], targets[kept], [texts[i] for i in held_out], targets[held_out]
        )
        self.thresholds_ = tune_thresholds(
            self.predict_proba([texts[i] for i in held_out]),
            targets[held_out],
            objective=self.threshold_objective,
            at_least_one=self.min_labels >= 1,
        )
        return self

    def _validation_split(self, num_docs: int) -> tuple[np.ndarray, np.ndarray]:
        """Seeded ``(kept, held_out)`` row indices; ``held_out`` is ``validation_fraction`` of the documents."""
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        cut = int(round(self.validation_fraction * num_docs))
        if not 1 <= cut < num_docs:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {num_docs} documents leaves no documents to "
                "train on or to tune thresholds on; pass more documents or a number threshold"
            )
        order = np.random.default_rng(self.random_state).permutation(num_docs)
        return np.sort(order[cut:]), np.sort(order[:cut])

    def decision_function(self, X) -> np.ndarray:
        """Logits ``(n, L)`` (``predict_proba`` is their sigmoid; ``threshold=0.5`` is logit 0)."""
        check_is_fitted(self, "classifier_")
        return self._logits(check_texts(X))

    def predict_proba(self, X) -> np.ndarray:
        """Sigmoid scores ``(n, L)`` in ``classes_`` order (each label scored independently)."""
        return expit(self.decision_function(X))

    def predict(self, X) -> sp.csr_matrix:
        """Binary ``(n, L)`` csr matrix: the ``top_k`` best labels, else scores ``>= threshold`` (+ min_labels)."""
        scores = self.predict_proba(X)
        self._check_decision_rule(scores.shape[1])
        if self.top_k is not None:
            chosen = best_labels(scores, self.top_k)
        elif self.threshold == "tuned":
            if getattr(self, "thresholds_", None) is None:
                raise ValueError(
                    "threshold='tuned' needs thresholds tuned by fit; call fit again with it set"
                )
            chosen = self.thresholds_.decide(scores) | best_labels(scores, self.min_labels)
        else:
            chosen = (scores >= self.threshold) | best_labels(scores, self.min_labels)
        return sp.csr_matrix(chosen.astype(np.int64))

    def _model_config(self) -> ModelConfig:
        return ModelConfig(
            encoder=self.encoder,
            head=self.head,
            contrastive=self.contrastive,
            lambda_=self.lambda_,
            temperature=self.temperature,
            queue_size=self.queue_size,
            max_length=self.max_length,
            init_embeddings=self.init_embeddings,
            encoder_kwargs=dict(self.encoder_kwargs or {}),
            head_kwargs=dict(self.head_kwargs or {}),
        )

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            head_lr=self.head_lr,
            seed=self.random_state,
            device=self.device,
            eval_batch_size=self.eval_batch_size,
            threshold=0.5 if self.threshold == "tuned" else self.threshold,
            quiet=True,
        )

    def _check_decision_rule(self, num_labels: int) -> None:
        if self.threshold == "tuned":
            if self.threshold_objective not in OBJECTIVES:
                raise ValueError(
                    f"threshold_objective must be one of {', '.join(OBJECTIVES)}, got {self.threshold_objective!r}"
                )
        elif isinstance(self.threshold, str) or not 0.0 < self.threshold < 1.0:
            raise ValueError(
                f"threshold must be 'tuned' or in (0, 1) (it applies to sigmoid scores), got {self.threshold!r}"
            )
        if self.top_k is not None and not (
            isinstance(self.top_k, Integral) and 1 <= self.top_k <= num_labels
        ):
            raise ValueError(
                f"top_k must be None or an integer in [1, {num_labels}] (the labels), got {self.top_k!r}"
            )
        if not (isinstance(self.min_labels, Integral) and 0 <= self.min_labels <= num_labels):
            raise ValueError(f"min_labels must be an integer in [0, {num_labels}], got {self.min_labels!r}")

    @torch.no_grad()
    def _logits(self, texts: list[str]) -> np.ndarray:
        model, tokenizer = self.classifier_.model, self.classifier_.tokenizer
        model.eval()
        device = next(model.parameters()).device
        ids = self.classifier_.tokenize(texts)
        chunks = [np.zeros((0, len(self.classes_)), dtype=np.float32)]
        for start in range(0, len(ids), self.eval_batch_size):
            input_ids, attention_mask = pad_batch(
                ids[start : start + self.eval_batch_size], tokenizer.pad_token_id
            )
            logits = model(input_ids.to(device), attention_mask.to(device)).logits
            chunks.append(logits.float().cpu().numpy())
        return np.concatenate(chunks)


def best_labels(scores: np.ndarray, k: int) -> np.ndarray:
    """Bool ``(n, L)`` marking the ``k`` highest scores of each row (ties: the lower label index wins)."""
    chosen = np.zeros(scores.shape, dtype=bool)
    if k > 0 and scores.shape[0]:
        np.put_along_axis(chosen, top_k(scores, int(k)), True, axis=1)
    return chosen


def check_texts(X) -> list[str]:
    """``X`` as a list of strings; ``ValueError`` for a single string, a 2-D input or a non-string item."""
    if isinstance(X, str | bytes):
        raise ValueError("X must be a sequence of documents, got a single string; pass [text]")
    if getattr(X, "ndim", 1) != 1:
        raise ValueError(f"X must be 1-D (one string per document), got shape {X.shape}")
    try:
        texts = list(X)
    except TypeError:
        raise ValueError(
            f"X must be a sequence of strings (one per document), got {type(X).__name__}"
        ) from None
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"X[{index}] is {type(text).__name__}, not str: X must hold raw document texts")
    return texts


def check_targets(y, num_docs: int) -> sp.csr_matrix:
    """``y`` as a float32 csr matrix ``(num_docs, L)`` of 0/1; ``ValueError`` naming ``y`` otherwise."""
    if y is None:
        raise ValueError("y is required: an (n_samples, n_labels) binary indicator matrix")
    if not sp.issparse(y):
        try:
            y = np.asarray(y)
        except ValueError:  # numpy's "inhomogeneous shape": rows of different lengths
            raise ValueError(
                "y must be an (n_samples, n_labels) binary indicator matrix, got rows of different lengths "
                "(label lists or index lists?); turn them into indicators with "
                "sklearn.preprocessing.MultiLabelBinarizer"
            ) from None
        if y.dtype == object:
            raise ValueError(
                "y must be an (n_samples, n_labels) binary indicator matrix of numbers, got Python objects "
                "(label lists?); turn them into indicators with sklearn.preprocessing.MultiLabelBinarizer"
            )
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise ValueError(f"y must hold numbers 0 and 1 (binary indicators), got dtype {y.dtype}")
    if y.ndim != 2:
        raise ValueError(
            f"y must be 2-D (n_samples, n_labels) binary indicators, got shape {y.shape}; "
            "turn class ids or label lists into indicators with sklearn.preprocessing.MultiLabelBinarizer"
        )
    if y.shape[0] != num_docs:
        raise ValueError(f"y has {y.shape[0]} rows but X has {num_docs} documents; they must match")
    if y.shape[1] == 0:
        raise ValueError("y has no label columns; it must be (n_samples, n_labels) with n_labels >= 1")
    matrix = sp.csr_matrix(y)
    invalid = ~np.isin(matrix.data, (0, 1))
    if invalid.any():
        found = np.unique(matrix.data[invalid])[:5].tolist()
        raise ValueError(f"y must hold only 0 and 1 (binary indicators), found {found}")
    if matrix.nnz == 0:
        raise ValueError("y has no positive label (every row is all zeros): there is nothing to learn")
    return matrix.astype(np.float32)
