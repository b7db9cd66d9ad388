"""Where a shortlisted LAN run loses ranking: candidate recall, or the order within the candidates (issue 21).

    python benchmarks/shortlist_recall.py RUN_FOLDER [--inference-sizes 128,256] [--docs N] [--batch-size 64]
        [--threads 2]

``RUN_FOLDER`` is a finished ``uclaf-bench run`` of a shortlisted head (``--shortlist-size C``), for example
``runs/eurlex57k/uclaf/seed1``. The run's own splits are read again (``prepare_data`` with its spec, so the same
train sample and test documents) and each test document is scored three ways from one encoder pass:

- ``head``: the model's logits, what the run's ``metrics.json`` ranks (candidates by their LAN logit, the others
  below them by their proposal score);
- ``proposal``: the proposal scorer alone, a linear head over the mean-pooled features trained by its own BCE over
  every label (``LabelAttentionHead.loss``); this is the named alternative;
- ``head x proposal``: each candidate ranked by the product of its LAN and proposal probabilities, the others
  below them in proposal order (``merge_logits``); AttentionXML and LightXML rank a label by the product of its
  own and its cluster's probability the same way.

``--inference-sizes`` adds ``head`` rows that rank with more (or fewer) candidates than the run trained with: the
same weights, only the top-C cut of the proposal scores moves. It prints candidate recall@C (the share of the test
positives that are among their document's C candidates), overall and per label group (frequent > 50 train documents
of the run's sample, few-shot 1-50, zero-shot none), the share of documents with at least one positive among their
candidates (the P@1 that a perfect order of the candidates would reach), P@1/3/5, RP@5 and nDCG@5 of each scoring,
and last ``ratio: X``, the head's P@1 over the proposal's. A ratio below 1 with a high recall says the LAN orders
the candidates worse than the linear proposal does; a low recall says the candidates miss the positives.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from uclaf_plugin.bench.run_folder import RunFolder
from uclaf_plugin.bench.runner import prepare_data
from uclaf_plugin.bench.spec import RunSpec
from uclaf_plugin.data.batches import pad_batch
from uclaf_plugin.heads.shortlist import merge_logits, shortlist_candidates
from uclaf_plugin.metrics import evaluate, label_groups
from uclaf_plugin.pipeline import TextClassifier

METRICS = ("P@1", "P@3", "P@5", "RP@5", "nDCG@5")


@torch.inference_mode()
def shortlist_scores(
    classifier: TextClassifier, texts: list[str], batch_size: int, sizes: list[int]
) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """``proposal`` logits ``(n, L)``, and for each shortlist size ``C`` in ``sizes`` the head's logits ``(n, L)``
    and candidate ids ``(n, C)`` of ``texts``, from one encoder pass.

    Raises ValueError when the classifier's head has no shortlist.
    """
    model = classifier.model.eval()
    head, trained_size = model.head, getattr(model.head, "shortlist_size", None)
    if trained_size is None:
        raise ValueError("the run's head is not shortlisted: train it with --shortlist-size C")
    ids = classifier.tokenize(texts)
    proposals, logits, candidates = [], {size: [] for size in sizes}, {size: [] for size in sizes}
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            features, mask = model.encoder(*pad_batch(batch, classifier.tokenizer.pad_token_id))
            proposal = head.proposal_scores(features, mask.bool())
            proposals.append(proposal.float())
            for size in sizes:
                head.shortlist_size = size
                logits[size].append(head(features, mask).logits.float())
                candidates[size].append(shortlist_candidates(proposal, size))
    finally:
        head.shortlist_size = trained_size
    joined = {size: torch.cat(parts).numpy() for size, parts in logits.items()}
    return (
        torch.cat(proposals).numpy(),
        joined,
        {size: torch.cat(parts).numpy() for size, parts in candidates.items()},
    )


def probability_product(head: np.ndarray, proposal: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``(n, L)`` ranking scores: ``log σ(head) + log σ(proposal)`` at the ``candidates (n, C)``, every other label
    below them in proposal order."""
    head, proposal, candidates = (
        torch.from_numpy(head),
        torch.from_numpy(proposal),
        torch.from_numpy(candidates),
    )
    product = F.logsigmoid(head.gather(1, candidates)) + F.logsigmoid(proposal.gather(1, candidates))
    return merge_logits(product, candidates, proposal).numpy()


def candidate_mask(candidates: np.ndarray, num_labels: int) -> sp.csr_matrix:
    """``(n, L)`` 0/1 matrix with a 1 at each document's candidates ``(n, C)``."""
    n, size = candidates.shape
    rows = np.repeat(np.arange(n), size)
    return sp.csr_matrix((np.ones(n * size), (rows, candidates.ravel())), shape=(n, num_labels))


def candidate_recall(targets: sp.csr_matrix, is_candidate: sp.csr_matrix, columns: np.ndarray) -> float:
    """Share of the test positives in ``columns`` that are candidates of their document (NaN when none)."""
    positives = targets[:, columns].sum()
    return (
        float(targets[:, columns].multiply(is_candidate[:, columns]).sum() / positives)
        if positives
        else np.nan
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path, help="a finished uclaf-bench run with --shortlist-size")
    parser.add_argument("--docs", type=int, default=None, help="score only the first N test documents")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--inference-sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=[],
        help="also rank with these shortlist sizes at inference, e.g. 128,256 (the trained size always)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=None, help="default: UCLAF_DATA")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = RunFolder(args.run_folder)
    recorded = folder.metrics()["test"]
    data = prepare_data(RunSpec.from_dict(folder.spec()), args.data_dir)
    texts, targets = data.test[0][: args.docs], sp.csr_matrix(data.test[1][: args.docs])
    label_counts = np.asarray(data.train[1].sum(axis=0)).ravel()
    classifier = TextClassifier.load(args.run_folder)
    trained = classifier.model.head.shortlist_size
    sizes = [trained, *(size for size in args.inference_sizes if size != trained)]
    proposal, head, candidates = shortlist_scores(classifier, texts, args.batch_size, sizes)
    rankings = {f"head, C = {size}" + (" (trained)" if size == trained else ""): head[size] for size in sizes}
    rankings["proposal"] = proposal
    rankings[f"head x proposal, C = {trained}"] = probability_product(
        head[trained], proposal, candidates[trained]
    )
    results = {
        name: evaluate(values, targets, label_counts=label_counts) for name, values in rankings.items()
    }

    groups = {"all": np.arange(targets.shape[1]), **label_groups(label_counts, targets.shape[1])}
    print(
        f"{args.run_folder}: {len(texts)} test documents, {targets.shape[1]} labels, trained with C = {trained}, "
        f"torch {torch.__version__}, {args.threads} thread(s); groups by the run's train counts"
    )
    recalls, reachable = {}, {}
    for size in sizes:
        is_candidate = candidate_mask(candidates[size], targets.shape[1])
        recalls[size] = {
            name: candidate_recall(targets, is_candidate, columns) for name, columns in groups.items()
        }
        reachable[size] = float((np.asarray(targets.multiply(is_candidate).sum(1)).ravel() > 0).mean())
        cells = ", ".join(f"{name} {100 * value:.2f}" for name, value in recalls[size].items())
        print(
            f"C = {size}: candidate recall {cells}; documents with a positive candidate {100 * reachable[size]:.2f}"
        )
    print(f"head P@1 recorded in metrics.json: {100 * recorded['P@1']:.2f} (all test documents)")
    print("| scoring | " + " | ".join(METRICS) + " | few RP@5 | zero RP@5 |")
    print("|---" * (len(METRICS) + 3) + "|")
    for name, metrics in results.items():
        cells = [metrics.get(key, np.nan) for key in (*METRICS, "few/RP@5", "zero/RP@5")]
        print(f"| {name} | " + " | ".join(f"{100 * value:.2f}" for value in cells) + " |")
    keys = (*METRICS, "frequent/RP@5", "few/RP@5", "zero/RP@5")
    table = {
        name: {key: round(float(metrics.get(key, np.nan)), 4) for key in keys}
        for name, metrics in results.items()
    }
    summary = {"recall": recalls, "reachable": reachable, "metrics": table}
    print("json: " + json.dumps(summary, default=float))
    print(f"ratio: {results[next(iter(rankings))]['P@1'] / results['proposal']['P@1']:.3f}")


if __name__ == "__main__":
    main()
