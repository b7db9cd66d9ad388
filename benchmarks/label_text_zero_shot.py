"""How much ranking power EuroVoc descriptor text gives EURLEX57K's labels before any training (issue 20, part 4).

    python benchmarks/label_text_zero_shot.py [--docs 6000] [--max-length 128] [--threads 1]

Each test act and each concept's descriptor (``load_dataset("eurlex57k").label_descriptions()``) is embedded by
MiniLM as ``--label-init names`` embeds label text (:func:`~uclaf_plugin.pipeline.label_name_embeddings`: mean-pooled
token features); a concept's score for an act is the cosine of the two. ``metrics.evaluate`` ranks them overall and
per label group (frequent > 50 train acts, few-shot 1-50, zero-shot none; each group ranks its own concepts only),
beside the named alternative, seeded random scores, which is what a model without label text gives the zero-shot
concepts. The last line is ``ratio: X``, the zero-shot RP@5 of the descriptor cosine over the RP@5 a random ranking
gets in expectation (``E[hits in the top 5] = 5·y/G`` for ``y`` true among a group's ``G`` concepts; one random
draw over a few acts is too noisy to divide by).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from uclaf_plugin.data import load_dataset
from uclaf_plugin.heads.common import masked_mean_pool
from uclaf_plugin.metrics import evaluate, label_groups
from uclaf_plugin.pipeline import ModelConfig, TextClassifier, label_name_embeddings, pad_batch

GROUPS = ("", "frequent/", "few/", "zero/")
METRICS = ("RP@5", "nDCG@5")


def expected_random_rp_at_5(targets, columns: np.ndarray) -> float:
    """Mean RP@5 of a uniformly random ranking of ``columns`` over the acts with a true label among them."""
    true = np.asarray(targets[:, columns].sum(1)).ravel()
    true = true[true > 0]
    return float(np.mean(min(5, len(columns)) * true / len(columns) / np.minimum(5, true)))


@torch.inference_mode()
def document_embeddings(classifier: TextClassifier, texts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Mean-pooled MiniLM features ``(n, d)`` of ``texts``, cut at the classifier's ``max_length``."""
    encoder, pad_id = classifier.model.encoder.eval(), classifier.tokenizer.pad_token_id
    pooled = []
    for start in range(0, len(texts), batch_size):
        input_ids, attention_mask = pad_batch(classifier.tokenize(texts[start : start + batch_size]), pad_id)
        features, mask = encoder(input_ids, attention_mask)
        pooled.append(masked_mean_pool(features, mask))
    return torch.cat(pooled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=6000, help="test acts to score (the first N)")
    parser.add_argument("--max-length", type=int, default=128, help="word pieces kept per act")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=os.environ.get("UCLAF_DATA"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = load_dataset("eurlex57k", data_dir=args.data_dir)
    label_counts = np.asarray(dataset.binarize(dataset.split("train").labels).sum(0)).ravel()
    test = dataset.split("test")
    texts, targets = list(test.texts)[: args.docs], dataset.binarize(test.labels)[: args.docs]
    config = ModelConfig(head="linear", contrastive=None, max_length=args.max_length)
    classifier = TextClassifier.from_config(config, dataset.label_names)
    with torch.inference_mode():
        labels = label_name_embeddings(
            classifier.model.encoder, classifier.tokenizer, dataset.label_descriptions()
        )
    documents = document_embeddings(classifier, texts)
    cosine = torch.nn.functional.normalize(documents, dim=1) @ torch.nn.functional.normalize(labels, dim=1).T
    random_scores = np.random.default_rng(0).standard_normal(cosine.shape)
    results = {
        "descriptor cosine": evaluate(cosine.numpy(), targets, ks=(5,), label_counts=label_counts),
        "random scores": evaluate(random_scores, targets, ks=(5,), label_counts=label_counts),
    }
    print(
        f"EURLEX57K test, first {len(texts)} acts, MiniLM at {args.max_length} word pieces, torch "
        f"{torch.__version__}, {args.threads} thread(s); groups by the full train split's counts"
    )
    header = " | ".join(f"{group or 'all '}{metric}" for group in GROUPS for metric in METRICS)
    print(f"| scores | {header} |")
    print("|---" * (1 + len(GROUPS) * len(METRICS)) + "|")
    for name, metrics in results.items():
        cells = " | ".join(f"{100 * metrics[group + metric]:.2f}" for group in GROUPS for metric in METRICS)
        print(f"| {name} | {cells} |")
    zero_docs = results["descriptor cosine"]["zero/n_docs"]
    zero_labels = results["descriptor cosine"]["zero/n_labels"]
    print(f"zero-shot group: {zero_labels} concepts, {zero_docs} test acts hold one")
    chance = expected_random_rp_at_5(targets, label_groups(label_counts, targets.shape[1])["zero"])
    print(f"zero-shot RP@5 of a random ranking, expected: {100 * chance:.2f}")
    print(f"ratio: {results['descriptor cosine']['zero/RP@5'] / chance:.2f}")


if __name__ == "__main__":
    main()
