"""Method presets (what each ``--method`` means) and per-dataset hyper-parameters.

A method is a model recipe: encoder, head, contrastive term. ``linear`` is the TF-IDF baseline and has no neural
parts. ``aapd`` and ``eurlex`` use the paper's settings; every other dataset uses ``ModelConfig``'s and
``TrainConfig``'s defaults (``docs/RESULTS.md`` explains them).
"""

from __future__ import annotations

ENCODER_LR = {"minilm": 5e-5, "xmlcnn": 1e-3, "attentionxml": 1e-3}
# The from-scratch encoders train like their papers: Adam at a constant-start rate (no warm-up), and the best epoch
# on validation with early stopping (--epochs is the cap).
BASELINE_TRAIN = {"patience": 5, "warmup_ratio": 0.0}

METHODS: dict[str, dict] = {
    "linear": {"kind": "linear"},
    # Liu et al. 2017: words + pretrained vectors, filters of widths 2/4/8 (128 maps each), dynamic max pooling
    # (8 chunks), a 512-unit bottleneck, dropout 0.5 (docs/RESULTS.md lists where this deviates).
    "xmlcnn": {
        "encoder": "xmlcnn",
        "head": "xmlcnn",
        "contrastive": None,
        "embeddings": "glove",
        "encoder_kwargs": {"filter_sizes": [2, 4, 8], "num_filters": 128, "dropout": 0.5},
        "head_kwargs": {"pool_chunks": 8, "bottleneck_dim": 512, "dropout": 0.5},
    },
    # You et al. 2019 (configure/models/AttentionXML-EUR-Lex.yaml): fixed word vectors, embedding dropout 0.2,
    # BiLSTM 256 per direction, dropout 0.5, label-wise attention, one shared 256-unit layer per label; above
    # 64 x 8 = 512 labels, label clusters of 8 and a shortlist of the 64 best (LibMultiLabel's EUR-Lex settings).
    "attentionxml": {
        "encoder": "attentionxml",
        "head": "attentionxml",
        "contrastive": None,
        "embeddings": "glove",
        "encoder_kwargs": {
            "hidden_size": 256,
            "dropout": 0.2,
            "output_dropout": 0.5,
            "freeze_embeddings": True,
        },
        "head_kwargs": {"hidden_dim": 256, "dropout": 0.0, "cluster_size": 8, "top_clusters": 64},
    },
    "bert": {"encoder": "minilm", "head": "linear", "contrastive": None},
    "bert-std": {
        "encoder": "minilm",
        "head": "linear",
        "contrastive": None,
        "head_kwargs": {"standardize": True},
    },
    "bert-std-prior": {
        "encoder": "minilm",
        "head": "linear",
        "contrastive": None,
        "head_kwargs": {"standardize": True, "bias_init": "prior"},
    },
    "bert-lan": {"encoder": "minilm", "head": "lan", "contrastive": None},
    "bert-cacl": {"encoder": "minilm", "head": "linear", "contrastive": "per_label"},
    "uclaf": {"encoder": "minilm", "head": "lan", "contrastive": "per_label"},
    # uclaf with a per-label bias in the LAN head started at the label prior, as bert-std-prior's linear head; it
    # helps the exact head (AAPD) and hurts the shortlisted one (EURLEX57K): docs/RESULTS.md
    "uclaf-prior": {
        "encoder": "minilm",
        "head": "lan",
        "contrastive": "per_label",
        "head_kwargs": {"bias_init": "prior"},
    },
    # uclaf whose shortlist proposal scorer is bert-std-prior's head (standardised pooled features, bias at the
    # label prior); the LAN head itself as in uclaf. Needs --shortlist-size. docs/RESULTS.md, "What bounds the
    # shortlisted LAN"
    "uclaf-std-proposal": {
        "encoder": "minilm",
        "head": "lan",
        "contrastive": "per_label",
        "head_kwargs": {"proposal_standardize": True},
    },
    "xmlcnn+cacl": {"encoder": "xmlcnn", "head": "xmlcnn", "contrastive": "per_label"},
    "xmlcnn+lan": {"encoder": "xmlcnn", "head": "lan", "contrastive": None},
    "attentionxml+cacl": {
        "encoder": "attentionxml",
        "head": "dot",
        "contrastive": "per_label",
        "head_kwargs": {"hidden_dim": 256},
    },
    "attentionxml+lan": {"encoder": "attentionxml", "head": "lan", "contrastive": None},
}

# Where neither the dataset nor the method sets a value, ModelConfig's and TrainConfig's defaults apply (the one
# home of every default): 128 tokens, λ 0.5, τ 1 (docs/RESULTS.md, "τ on GoEmotions"), 8 epochs, batch 16, lr 5e-5.

# The paper's hyper-parameters (batch 16, max length 512, dropout 0.5).
PAPER_SETTINGS = {
    "aapd": {
        "model": {"max_length": 512, "lambda_": 0.7, "temperature": 5.0, "head_kwargs": {"dropout": 0.5}},
        "train": {"batch_size": 16, "lr": 1e-5},
    },
    "eurlex": {
        "model": {"max_length": 512, "lambda_": 0.5, "temperature": 3.0, "head_kwargs": {"dropout": 0.5}},
        "train": {"batch_size": 16, "lr": 5e-5},
    },
}

# The embedded demo corpus trains in a few minutes on two CPU cores.
DATASET_SETTINGS = {
    **PAPER_SETTINGS,
    "eurlex57k": PAPER_SETTINGS[
        "eurlex"
    ],  # EURLEX57K: the same EuroVoc task at the same scale as the paper's EURLex
    "synthetic": {"model": {"max_length": 64}, "train": {"epochs": 3, "lr": 1e-4}},
    "goemotions-sample": {"model": {"max_length": 64}, "train": {"epochs": 2}},
}


def method_recipe(method: str) -> dict:
    """The preset of ``method``; an unknown name raises ``ValueError`` listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return dict(METHODS[method])


def dataset_settings(dataset: str) -> dict:
    """``{"model": {...}, "train": {...}}``: what ``dataset`` (a registered name or a path) sets beyond
    ``ModelConfig``'s and ``TrainConfig``'s defaults; empty parts for a dataset without settings."""
    specific = DATASET_SETTINGS.get(dataset, {})
    return {part: dict(specific.get(part, {})) for part in ("model", "train")}
