"""A ready-to-use text classifier: tokenizer + :class:`~uclaf_plugin.model.UCLAF` + label names.

``TextClassifier.from_config(ModelConfig(...), label_names)`` builds one; ``save(dir)`` writes safetensors weights,
``config.json`` and ``labels.json``; ``TextClassifier.load(dir)`` reads them back; ``predict(texts, top_k)`` ranks labels.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .augment import AUGMENTATIONS
from .constraints import Interval, Options, check_settings
from .contrastive import KEY_PRECISIONS
from .data.batches import pad_batch
from .encoders import SCRATCH_ENCODERS
from .encoders.transformer import DEFAULT_ENCODER, TransformerEncoder, load_tokenizer
from .encoders.wordvectors import (
    WORD_VECTOR_DIM,
    WORD_VECTORS,
    load_word_tokenizer,
    save_word_tokenizer,
    training_vocabulary,
    word_tokenizer,
    word_vectors,
)
from .files import atomic_write, read_json, write_json
from .heads import DEFAULT_SCORING, masked_mean_pool
from .metrics import top_k as top_k_indices
from .model import UCLAF

BASELINE_ENCODERS = tuple(SCRATCH_ENCODERS)
WEIGHTS_FILE = "model.safetensors"
# Model settings added after models and runs were recorded, with the value those had.
LATER_MODEL_SETTINGS = {"key_precision": "fp32", "embeddings": "wordpiece"}
# LAN head arguments likewise: models saved before "multiplicative" became the default scored as the paper does.
LATER_LAN_SETTINGS = {"scoring": "paper"}


def recorded_model_settings(model: dict) -> dict:
    """A saved ``model`` entry (``config.json``, a run's spec) completed with the values of settings it predates.

    Settings added since it was written take the value that models had then (:data:`LATER_MODEL_SETTINGS`,
    :data:`LATER_LAN_SETTINGS`), not today's default, so an older model loads and resumes as it was trained.
    """
    completed = {**LATER_MODEL_SETTINGS, **model}
    if completed.get("head", "lan") == "lan":
        completed["head_kwargs"] = {**LATER_LAN_SETTINGS, **completed.get("head_kwargs", {})}
        # shortlists with label text started their proposal scorer at random before 2026-12-01
        if _text_proposal_applies(completed):
            completed["head_kwargs"] = {"proposal_init": "random", **completed["head_kwargs"]}
    return completed


def _text_proposal_applies(model: dict) -> bool:
    """Whether ``proposal_init`` matters: a shortlisted LAN head whose label vectors start from label names."""
    head_kwargs = model.get("head_kwargs") or {}
    return model.get("label_init") == "names" and head_kwargs.get("shortlist_size") is not None


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json``.

    ``encoder`` is ``"minilm"`` (the offline default), ``"xmlcnn"``, ``"attentionxml"`` or a Hugging Face model
    path; the two baselines read the ids of ``tokenizer`` (default: the MiniLM WordPiece tokenizer) and start from its
    input embeddings when ``init_embeddings``. ``embeddings="glove"`` or ``"word2vec"`` gives the two baselines
    word-level tokens over the training split's vocabulary and static word vectors instead
    (:mod:`uclaf_plugin.encoders.wordvectors`); ``"wordpiece"`` keeps the tokenizer's word pieces.
    ``label_init="names"`` starts LAN's label vectors from the encoder's embedding of the label names.
    """

    encoder: str = DEFAULT_ENCODER
    tokenizer: str | None = None
    head: str = "lan"
    contrastive: str | None = "per_label"
    lambda_: float = 0.5
    temperature: float = 1.0  # τ = 0.1 (SupCon's) ranked last on AAPD and GoEmotions; docs/RESULTS.md
    queue_size: int = 512
    momentum: float = 0.999
    projection_dim: int = 128
    augment: str = "dropout"
    key_precision: str = "auto"
    max_length: int = 128
    label_init: str | None = None
    init_embeddings: bool = True
    embeddings: str = "wordpiece"
    head_kwargs: dict = field(default_factory=dict)
    encoder_kwargs: dict = field(default_factory=dict)

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "lambda_": [Interval(0, None)],
        "temperature": [Interval(0, None, closed="neither")],
        "queue_size": [Interval(0, None, integer=True)],
        "momentum": [Interval(0, 1, closed="left")],
        "projection_dim": [Interval(1, None, integer=True)],
        "augment": [Options(tuple(AUGMENTATIONS))],
        "key_precision": [Options(KEY_PRECISIONS)],
        "max_length": [Interval(1, None, integer=True)],
        "label_init": [None, Options(("names",))],
        "embeddings": [Options(("wordpiece", *WORD_VECTORS))],
    }

    def __post_init__(self):
        check_settings(asdict(self), self._parameter_constraints, display=lambda name: f"ModelConfig.{name}")
        if self.head == "lan":
            # the scoring is always written down, so a later default cannot change what a saved model loads as
            self.head_kwargs = {"scoring": DEFAULT_SCORING, **self.head_kwargs}
            if _text_proposal_applies(asdict(self)):
                self.head_kwargs = {"proposal_init": "label_init", **self.head_kwargs}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """A config from a saved entry (``config.json``'s ``"model"``, a run's spec), read as it was trained.

        Keys it lacks take the value they had before they existed (:func:`recorded_model_settings`); an unknown
        key raises ``ValueError`` naming the valid ones.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; valid keys: {sorted(known)}")
        return cls(**recorded_model_settings(data))

    @property
    def word_level(self) -> bool:
        """Whether the baseline encoder reads whole words (``embeddings`` ``"glove"`` or ``"word2vec"``)."""
        return self.embeddings != "wordpiece"

    @property
    def tokenizer_name(self) -> str:
        if self.tokenizer:
            return self.tokenizer
        return DEFAULT_ENCODER if self.encoder in BASELINE_ENCODERS else self.encoder


class TextClassifier(nn.Module):
    """Tokenizer, model and label names, with ``predict``, ``scores``, ``save`` and ``load``."""

    def __init__(self, model: UCLAF, tokenizer, label_names: list[str], config: ModelConfig):
        super().__init__()
        if model.num_labels != len(label_names):
            raise ValueError(
                f"model has {model.num_labels} outputs but {len(label_names)} label names were given"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.config = config

    @classmethod
    def from_config(
        cls,
        config: ModelConfig,
        label_names: list[str],
        pretrained: bool = True,
        label_texts: list[str] | None = None,
        train_texts: list[str] | None = None,
        tokenizer=None,
        train_targets=None,
    ) -> TextClassifier:
        """Build a fresh model; ``pretrained=False`` skips the initialisations that ``load`` overwrites anyway.

        ``label_texts``: what ``label_init="names"`` embeds for each label, in ``label_names`` order (e.g. the
        EuroVoc descriptor of a concept id); default the label names themselves. Word-level baselines
        (``config.embeddings`` ``"glove"``/``"word2vec"``) build their vocabulary (and fit word2vec) on
        ``train_texts``, unless a ready word ``tokenizer`` is given. The ``"attentionxml"`` head clusters the labels
        on ``train_texts`` and their multi-hot ``train_targets`` ``(n, L)``; a linear or LAN head with ``bias_init="prior"``
        (or a LAN head with ``proposal_standardize=True``) starts its bias from ``train_targets``.
        """
        tokenizer = tokenizer or _build_tokenizer(config, train_texts)
        encoder = build_encoder(config, tokenizer, pretrained, train_texts)
        head_kwargs = dict(config.head_kwargs)
        if config.label_init == "names" and config.head in ("lan",):
            head_kwargs["label_init"] = label_name_embeddings(encoder, tokenizer, label_texts or label_names)
        model = UCLAF(
            encoder,
            len(label_names),
            head=config.head,
            contrastive=config.contrastive,
            lambda_=config.lambda_,
            temperature=config.temperature,
            queue_size=config.queue_size,
            momentum=config.momentum,
            projection_dim=config.projection_dim,
            augment=config.augment,
            key_precision=config.key_precision,
            mask_token_id=tokenizer.mask_token_id,
            special_token_ids=tuple(tokenizer.all_special_ids),
            head_kwargs=head_kwargs,
        )
        if pretrained and hasattr(model.head, "fit_clusters"):
            if train_texts is None or train_targets is None:
                raise ValueError(
                    f"head {config.head!r} clusters the labels: pass train_texts and train_targets"
                )
            model.head.fit_clusters(train_texts, train_targets)
        if pretrained and getattr(model.head, "starts_at_prior", False):
            if train_targets is None:
                raise ValueError(
                    f"head {config.head!r} with head_kwargs {config.head_kwargs} starts a bias at the label "
                    "prior: pass train_targets"
                )
            model.head.start_bias_at_prior(train_targets)
        return cls(model, tokenizer, label_names, config)

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids, truncated to ``config.max_length`` and not padded (``[]`` for no texts)."""
        if len(texts) == 0:  # the tokenizer itself fails on an empty batch
            return []
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.config.max_length, padding=False
        )
        return encoded["input_ids"]

    @torch.no_grad()
    def scores(
        self,
        texts: list[str],
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        sort_by_length: bool = False,
    ) -> np.ndarray:
        """Sigmoid scores ``(n, L)`` in ``label_names`` order, in the order of ``texts``.

        ``sort_by_length``: batch documents of similar token length together (less padding, same scores).
        """
        self.model.eval()
        ids = self.tokenize(texts)
        order = np.argsort([len(s) for s in ids], kind="stable") if sort_by_length else np.arange(len(ids))
        result = np.zeros((len(ids), len(self.label_names)), dtype=np.float32)
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            input_ids, attention_mask = pad_batch([ids[i] for i in rows], self.tokenizer.pad_token_id)
            logits = self.model(input_ids.to(device), attention_mask.to(device)).logits
            result[rows] = torch.sigmoid(logits.float()).cpu().numpy()
        return result

    def predict(
        self, texts: list[str], top_k: int = 5, batch_size: int = 64
    ) -> list[list[tuple[str, float]]]:
        """The ``top_k`` labels of each text with their scores, best first."""
        return rank_labels(self.scores(texts, batch_size=batch_size), self.label_names, top_k)

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors``, ``labels.json`` and the ``model`` entry of ``config.json`` into ``directory``."""
        from safetensors.torch import save_model

        directory = Path(directory)
        atomic_write(directory / WEIGHTS_FILE, lambda temp: save_model(self.model, temp))
        config_path = directory / "config.json"
        run_config = read_json(config_path) if config_path.is_file() else {}
        write_json(config_path, {**run_config, "model": asdict(self.config)})
        write_json(directory / "labels.json", self.label_names)
        if self.config.word_level:
            save_word_tokenizer(self.tokenizer, directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TextClassifier:
        """Read a model written by :meth:`save` (or a run folder of ``uclaf-bench run``).

        Raises FileNotFoundError for a missing file, ValueError (one line, naming the file) for weights that are
        truncated or corrupted or do not fit ``config.json`` and ``labels.json`` (another number of labels).
        """
        directory = Path(directory)
        if not (directory / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(
                f"{directory / WEIGHTS_FILE} not found: is {directory} a saved model or run folder?"
            )
        run_config = read_json(directory / "config.json")
        if not isinstance(run_config, dict) or not isinstance(run_config.get("model"), dict):
            raise ValueError(
                f"{directory / 'config.json'} has no 'model' entry: it does not describe a model"
            )
        config = ModelConfig.from_dict(run_config["model"])
        label_names = read_json(directory / "labels.json")
        if not isinstance(label_names, list) or not all(isinstance(name, str) for name in label_names):
            raise ValueError(f"{directory / 'labels.json'} must be a JSON list of label names")
        tokenizer = load_word_tokenizer(directory) if config.word_level else None
        classifier = cls.from_config(config, label_names, pretrained=False, tokenizer=tokenizer)
        _load_weights(classifier.model, directory / WEIGHTS_FILE, len(label_names))
        return classifier


def _load_weights(model: nn.Module, path: Path, num_labels: int) -> None:
    """``safetensors`` ``load_model``, with its errors turned into one line that names ``path``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    try:
        load_model(model, path)
    except SafetensorError as error:
        raise ValueError(
            f"{path}: cannot read the weights ({error}); the file is truncated or corrupted"
        ) from None
    except RuntimeError as error:
        mismatch = next((line.strip() for line in str(error).splitlines() if "mismatch" in line), str(error))
        raise ValueError(
            f"{path} does not fit the model of config.json with the {num_labels} labels of labels.json "
            f"({mismatch}); the folder's files come from different runs"
        ) from None


def _build_tokenizer(config: ModelConfig, train_texts: list[str] | None):
    if not config.word_level:
        return load_tokenizer(config.tokenizer_name)
    if config.encoder not in BASELINE_ENCODERS:
        raise ValueError(
            f"embeddings={config.embeddings!r} applies to the xmlcnn and attentionxml encoders, "
            f"not {config.encoder!r}; use embeddings='wordpiece'"
        )
    if not train_texts:
        raise ValueError(
            f"embeddings={config.embeddings!r} builds its word vocabulary from train_texts: pass them"
        )
    return word_tokenizer(training_vocabulary(train_texts))


def build_encoder(
    config: ModelConfig, tokenizer, pretrained: bool = True, train_texts: list[str] | None = None
) -> nn.Module:
    """The encoder named by ``config.encoder``; baselines share the tokenizer's ids and, optionally, its embeddings
    (the transformer's input embeddings for word pieces, static word vectors for whole words)."""
    kwargs = dict(config.encoder_kwargs)
    if config.encoder in BASELINE_ENCODERS:
        if config.word_level:
            kwargs.setdefault("embedding_dim", WORD_VECTOR_DIM)
            kwargs.setdefault("vocab_size", len(tokenizer))
            if config.init_embeddings and pretrained:
                kwargs["embedding_weights"] = word_vectors(config.embeddings, tokenizer, train_texts or ())
        elif config.init_embeddings and pretrained:
            kwargs["embedding_weights"] = pretrained_token_embeddings(config.tokenizer_name).clone()
        else:
            kwargs.setdefault("vocab_size", len(tokenizer))
        return SCRATCH_ENCODERS[config.encoder](**kwargs)
    return TransformerEncoder(config.encoder, **kwargs)


def rank_labels(scores: np.ndarray, label_names: list[str], top_k: int) -> list[list[tuple[str, float]]]:
    """The ``top_k`` ``(label, score)`` pairs of each row of ``scores``, best first (ties: lower index first)."""
    order = top_k_indices(scores, top_k)
    return [
        [(label_names[j], float(row[j])) for j in ranked] for row, ranked in zip(scores, order, strict=True)
    ]


@functools.lru_cache(maxsize=2)
def pretrained_token_embeddings(model_name_or_path: str) -> torch.Tensor:
    """The transformer's input embedding matrix (loaded once per process; clone before training it)."""
    return TransformerEncoder(model_name_or_path).input_embeddings()


@torch.no_grad()
def label_name_embeddings(encoder: nn.Module, tokenizer, label_names: list[str]) -> torch.Tensor:
    """Mean-pooled encoder features of each label name (``cs.IT`` reads as ``cs it``), shape ``(L, d)``."""
    readable = [name.replace(".", " ").replace("_", " ").replace("-", " ") for name in label_names]
    input_ids, attention_mask = pad_batch(
        tokenizer(readable, truncation=True, max_length=32)["input_ids"], tokenizer.pad_token_id
    )
    was_training = encoder.training
    encoder.eval()
    features, mask = encoder(input_ids, attention_mask)
    encoder.train(was_training)
    return masked_mean_pool(features, mask).float()
