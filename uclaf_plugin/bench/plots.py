"""Figures: the λ/τ sweep (Figure 5), label × token attention (Figure 3), label prototypes by t-SNE (Figure 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write, read_json

MAX_WORDS_SHOWN = 40
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
    options = {"format": spec["format"]} if spec.get("format") else {}  # a run on files named with --format
    dataset = load_dataset(spec["dataset"], data_dir=data_dir, seed=spec["seed"], **options)
    return dataset.split(spec["eval_split"])


def merge_word_pieces(tokens: list[str], weights: np.ndarray) -> tuple[list[str], np.ndarray]:
    """WordPiece tokens (``##`` continues a word) -> words; ``weights (rows, tokens)`` summed per word."""
    words, columns = [], []
    for index, token in enumerate(tokens):
        if token.startswith("##") and words:
            words[-1] += token[2:]
            columns[-1].append(index)
        else:
            words.append(token)
            columns.append([index])
    return words, np.stack([weights[:, group].sum(1) for group in columns], axis=1)


def _densest_window(weights: np.ndarray, width: int) -> int:
    """Start of the ``width``-column window holding the most attention, summed over the rows."""
    if weights.shape[1] <= width:
        return 0
    mass = np.convolve(weights.sum(0), np.ones(width), mode="valid")
    return int(np.argmax(mass))


def _label_rows(classifier, logits: torch.Tensor, true: list[str], top: int) -> tuple[list[int], list[str]]:
    order = torch.topk(logits, k=min(top, logits.shape[0])).indices.tolist()
    names = [
        f"{classifier.label_names[j]} {'✓' if classifier.label_names[j] in true else '✗'} "
        f"({torch.sigmoid(logits[j]).item():.2f})"
        for j in order
    ]
    return order, names


def attention_figure(
    run_dir: Path,
    output: Path | None,
    docs: int,
    data_dir=None,
    top_labels: int = 4,
    words: int = MAX_WORDS_SHOWN,
) -> Path:
    """Figure 3 on real documents: for each of the first ``docs`` test documents, the attention of its
    ``top_labels`` highest-scoring labels over its words (word pieces merged, their weights summed).

    Each row is scaled to its own maximum so that where a label attends stands out; the ``words``-word window
    that holds the most attention is drawn. Row names carry ✓ (a true label) or ✗ and the predicted
    probability; each panel's title lists the true labels. Raises ``ValueError`` for a run without label
    attention (``--head linear``).
    """
    from ..pipeline import TextClassifier, pad_batch

    classifier = TextClassifier.load(run_dir)
    split = _run_test_split(run_dir, data_dir)
    texts, true_labels = list(split.texts[:docs]), list(split.labels[:docs])
    ids = classifier.tokenize(texts)
    input_ids, attention_mask = pad_batch(ids, classifier.tokenizer.pad_token_id)
    classifier.model.eval()
    with torch.no_grad():
        scored = classifier.model(input_ids, attention_mask, return_attention=True)
    if scored.attention is None:
        raise ValueError(f"the head of {run_dir} has no label attention; use a run with --head lan or dot")
    logits, attention = scored.logits, scored.attention
    plt = _pyplot()
    figure, axes = plt.subplots(
        len(texts), 1, figsize=(13, 1.6 + 0.45 * top_labels * len(texts)), squeeze=False
    )
    for row, axis in enumerate(axes[:, 0]):
        rows, names = _label_rows(classifier, logits[row].float(), true_labels[row], top_labels)
        tokens = classifier.tokenizer.convert_ids_to_tokens(ids[row])
        weights = attention[row, rows, : len(ids[row])].float().numpy()
        word_list, word_weights = merge_word_pieces(tokens, weights)
        start = _densest_window(word_weights, words)
        shown = word_weights[:, start : start + words]
        axis.imshow(shown / shown.max(1, keepdims=True).clip(1e-12), aspect="auto", cmap="viridis", vmin=0)
        axis.set_yticks(range(len(rows)), names, fontsize=8)
        axis.set_xticks(range(shown.shape[1]), word_list[start : start + words], rotation=70, fontsize=7)
        axis.set_title(
            f"test document {row} (words {start + 1}-{start + shown.shape[1]} of {len(word_list)}); "
            f"true: {', '.join(true_labels[row])}",
            fontsize=8,
            loc="left",
        )
    figure.suptitle(
        "label attention over words: top labels by score (✓ true, ✗ not; predicted probability); "
        "each row scaled to its maximum",
        fontsize=9,
    )
    figure.tight_layout()
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
