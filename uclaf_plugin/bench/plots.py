"""Figures: the λ/τ sweep (Figure 5), label × token attention (Figure 3), label prototypes by t-SNE (Figure 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write, read_json

MAX_TOKENS_SHOWN = 48
PROTOTYPE_DOCS = 1000


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda temp: figure.savefig(temp, format="png", dpi=100, bbox_inches="tight"))
    _pyplot().close(figure)
    return path


def sweep_figure(entries: list[dict], values: list[float], param: str, path: Path) -> Path:
    """P@1, P@3, P@5 and nDCG@5 against the swept value (one entry per value, in order)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.2))
    for metric in ("P@1", "P@3", "P@5", "nDCG@5"):
        means = [entry.get(metric, np.nan) for entry in entries]
        stds = [entry.get(f"{metric} std", 0.0) for entry in entries]
        axis.errorbar(values, means, yerr=stds, marker="o", capsize=3, label=metric)
    axis.set_xscale("log" if min(values) > 0 and max(values) / min(values) >= 20 else "linear")
    axis.set_xlabel("λ" if param == "lambda" else "τ")
    axis.set_ylabel("test metric (%)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return _save(figure, path)


def _run_test_split(run_dir: Path, data_dir):
    from ..data import load_dataset

    spec = read_json(Path(run_dir) / "config.json").get("spec")
    if not spec:
        raise ValueError(f"{run_dir}/config.json has no run spec; pass a folder written by uclaf-bench run")
    dataset = load_dataset(spec["dataset"], data_dir=data_dir, seed=spec["seed"])
    return dataset.split(spec["eval_split"])


def attention_figure(run_dir: Path, output: Path | None, docs: int, data_dir=None) -> Path:
    """Heatmaps of the attention of each document's top-5 labels over its first tokens."""
    from ..pipeline import TextClassifier, pad_batch

    classifier = TextClassifier.load(run_dir)
    texts = list(_run_test_split(run_dir, data_dir).texts[:docs])
    ids = [ids[:MAX_TOKENS_SHOWN] for ids in classifier.tokenize(texts)]
    input_ids, attention_mask = pad_batch(ids, classifier.tokenizer.pad_token_id)
    classifier.model.eval()
    with torch.no_grad():
        output_pair = classifier.model(input_ids, attention_mask, return_attention=True)
    if not isinstance(output_pair, tuple) or output_pair[1] is None:
        raise ValueError(f"the head of {run_dir} has no label attention; use a run with --head lan or dot")
    logits, attention = output_pair
    plt = _pyplot()
    figure, axes = plt.subplots(len(texts), 1, figsize=(10, 2.2 * len(texts)), squeeze=False)
    for row, axis in enumerate(axes[:, 0]):
        top = torch.topk(logits[row], k=min(5, logits.shape[1])).indices
        length = len(ids[row])
        tokens = classifier.tokenizer.convert_ids_to_tokens(ids[row])
        axis.imshow(attention[row, top, :length].numpy(), aspect="auto", cmap="viridis")
        axis.set_yticks(range(len(top)), [classifier.label_names[j] for j in top], fontsize=7)
        axis.set_xticks(range(length), tokens, rotation=90, fontsize=6)
    figure.suptitle("label attention over tokens (top-5 labels per document)", fontsize=9)
    return _save(figure, output or Path(run_dir) / "attention.png")


def prototype_figure(run_dir: Path, output: Path | None, data_dir=None) -> Path:
    """t-SNE of each label's prototype: the mean pooled encoder feature of the test documents carrying it."""
    from sklearn.manifold import TSNE

    from ..heads import masked_mean_pool
    from ..pipeline import TextClassifier, pad_batch

    classifier = TextClassifier.load(run_dir)
    split = _run_test_split(run_dir, data_dir)
    texts, labels = list(split.texts[:PROTOTYPE_DOCS]), list(split.labels[:PROTOTYPE_DOCS])
    classifier.model.eval()
    pooled = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            input_ids, mask = pad_batch(
                classifier.tokenize(texts[start : start + 64]), classifier.tokenizer.pad_token_id
            )
            features, feature_mask = classifier.model.encoder(input_ids, mask)
            pooled.append(masked_mean_pool(features, feature_mask))
    embeddings = torch.cat(pooled).numpy()
    names, prototypes = [], []
    for name in classifier.label_names:
        rows = [i for i, doc_labels in enumerate(labels) if name in doc_labels]
        if rows:
            names.append(name)
            prototypes.append(embeddings[rows].mean(axis=0))
    if len(prototypes) < 3:
        raise ValueError(f"only {len(prototypes)} labels occur in the test documents; t-SNE needs at least 3")
    points = TSNE(
        n_components=2, perplexity=min(30.0, len(prototypes) - 1.0), init="pca", random_state=0
    ).fit_transform(np.stack(prototypes))
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 5))
    axis.scatter(points[:, 0], points[:, 1], s=14)
    if len(names) <= 100:
        for (x, y), name in zip(points, names, strict=True):
            axis.annotate(name, (x, y), fontsize=6)
    axis.set_title("label prototypes (t-SNE of mean document embeddings)", fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])
    return _save(figure, output or Path(run_dir) / "prototypes.png")
