"""Why `bert` sits at EURLEX57K's label prior: a linear head on frozen MiniLM features, raw against standardised.

    python benchmarks/linear_head_prior.py [--train-docs 3000] [--test-docs 1000] [--steps 1250] [--threads 1]

MiniLM (untrained for the task) mean-pools each act's first ``--max-length`` word pieces once; then
:class:`~uclaf_plugin.heads.LinearHead` (dropout 0.5, the EURLex preset's) is trained on those frozen features
with BCE, AdamW (lr 1e-3, the new-layer lr of every preset) and batches of 16 for ``--steps`` steps, as `bert`'s
head is in the 10,000-act runs (1,250 steps). Four heads, each from the same seed: raw pooled features (today's
`bert`), raw with the bias started at the labels' log prior odds, standardised features (``standardize=True``,
the `bert-std` preset), and both. P@1 / nDCG@5 on a seeded sample of test acts after 100, 300, 1,000 steps and
the last, beside the label prior (every act ranked by train frequency), the score a head that ignores its input
gets. Also printed: the mean pairwise cosine of the pooled features, and the norm of their mean against their
mean norm (how much one shared direction dominates them). The last line is ``ratio: X``, the standardised head's
P@1 over the raw head's at the last step.
"""

from __future__ import annotations

import argparse
import os
import random

import numpy as np
import torch
from label_text_zero_shot import document_embeddings

from uclaf_plugin.data import load_dataset
from uclaf_plugin.heads import LinearHead
from uclaf_plugin.metrics import evaluate
from uclaf_plugin.pipeline import ModelConfig, TextClassifier

BATCH_SIZE, LR, DROPOUT = 16, 1e-3, 0.5
VARIANTS = {  # name: (standardize, bias at the log prior odds)
    "raw (bert)": (False, False),
    "raw, bias at log prior": (False, True),
    "standardised (bert-std)": (True, False),
    "standardised, bias at log prior": (True, True),
}


def train_head(
    features: torch.Tensor,
    targets: torch.Tensor,
    test_features: torch.Tensor,
    test_targets,
    *,
    standardize: bool,
    prior_bias: bool,
    checkpoints: list[int],
    seed: int = 0,
) -> list[dict]:
    """Train one head on frozen ``features (n, d)`` up to the last of ``checkpoints``; test metrics at each."""
    torch.manual_seed(seed)
    head = LinearHead(features.shape[1], targets.shape[1], dropout=DROPOUT, standardize=standardize)
    if prior_bias:
        prior = targets.mean(0).clamp(1e-4, 1 - 1e-4)
        head.classifier.bias.data = torch.log(prior / (1 - prior))
    optimizer = torch.optim.AdamW(head.parameters(), lr=LR, weight_decay=0.01)
    curve = []
    for step in range(1, checkpoints[-1] + 1):
        batch = torch.randint(0, len(features), (BATCH_SIZE,))
        logits = head.train()(features[batch].unsqueeze(1)).logits
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in checkpoints:
            with torch.no_grad():
                scores = head.eval()(test_features.unsqueeze(1)).logits.numpy()
            curve.append(evaluate(scores, test_targets, ks=(1, 5)))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-docs", type=int, default=3000, help="seeded sample of train acts")
    parser.add_argument("--test-docs", type=int, default=1000, help="seeded sample of test acts")
    parser.add_argument("--steps", type=int, default=1250)
    parser.add_argument("--max-length", type=int, default=128, help="word pieces kept per act")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=os.environ.get("UCLAF_DATA"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = load_dataset("eurlex57k", data_dir=args.data_dir)
    train, test = dataset.split("train"), dataset.split("test")
    train_ids = random.Random(0).sample(range(len(train)), args.train_docs)
    test_ids = random.Random(1).sample(range(len(test)), args.test_docs)
    targets = torch.tensor(
        dataset.binarize([train.labels[i] for i in train_ids]).toarray(), dtype=torch.float32
    )
    test_targets = dataset.binarize([test.labels[i] for i in test_ids])
    classifier = TextClassifier.from_config(
        ModelConfig(head="linear", contrastive=None, max_length=args.max_length), dataset.label_names
    )
    with torch.inference_mode():
        features = document_embeddings(classifier, [train.texts[i] for i in train_ids])
        test_features = document_embeddings(classifier, [test.texts[i] for i in test_ids])
    features, test_features = features.clone(), test_features.clone()  # out of inference mode

    unit = torch.nn.functional.normalize(features, dim=1)
    print(
        f"EURLEX57K: {args.train_docs} train / {args.test_docs} test acts (seeded samples), MiniLM at "
        f"{args.max_length} word pieces, frozen; head: dropout {DROPOUT}, AdamW lr {LR}, batch {BATCH_SIZE}; "
        f"torch {torch.__version__}, {args.threads} thread(s)"
    )
    print(
        f"pooled features: mean pairwise cosine {float((unit @ unit.T).mean()):.3f}; norm of the mean "
        f"{float(features.mean(0).norm()):.2f} against a mean norm of {float(features.norm(dim=1).mean()):.2f}"
    )
    prior = np.tile(targets.mean(0).numpy(), (args.test_docs, 1))
    prior_metrics = evaluate(prior, test_targets, ks=(1, 5))
    print(f"label prior: P@1 {100 * prior_metrics['P@1']:.2f}, nDCG@5 {100 * prior_metrics['nDCG@5']:.2f}")
    checkpoints = sorted({step for step in (100, 300, 1000) if step < args.steps} | {args.steps})
    print("| head | " + " | ".join(f"P@1 / nDCG@5 at step {step}" for step in checkpoints) + " |")
    print("|---" * (1 + len(checkpoints)) + "|")
    last_p1 = {}
    for name, (standardize, prior_bias) in VARIANTS.items():
        curve = train_head(
            features,
            targets,
            test_features,
            test_targets,
            standardize=standardize,
            prior_bias=prior_bias,
            checkpoints=checkpoints,
        )
        cells = " | ".join(f"{100 * m['P@1']:.2f} / {100 * m['nDCG@5']:.2f}" for m in curve)
        print(f"| {name} | {cells} |", flush=True)
        last_p1[name] = curve[-1]["P@1"]
    raw, standardised = last_p1["raw (bert)"], last_p1["standardised (bert-std)"]
    print(f"ratio: {standardised / raw if raw else float('inf'):.2f}")


if __name__ == "__main__":
    main()
