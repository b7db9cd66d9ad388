"""evaluate() on 100k documents x 4k labels against a naive full-argsort implementation.

Run: python benchmarks/metrics_speed.py [--docs 100000] [--labels 4000] [--labels-per-doc 5]
Prints both timings, their ratio, and checks that the two agree on P@k and nDCG@k.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from uclaf_plugin.metrics import evaluate

KS = (1, 3, 5)


def naive_evaluate(scores: np.ndarray, targets: sp.csr_matrix, ks=KS, block: int = 2048) -> dict[str, float]:
    """P@k and nDCG@k from a full stable argsort of every row (the straightforward way)."""
    k_max = max(ks)
    discounts = 1.0 / np.log2(np.arange(2, k_max + 2))
    sums = dict.fromkeys([f"P@{k}" for k in ks] + [f"nDCG@{k}" for k in ks], 0.0)
    docs = 0
    for start in range(0, scores.shape[0], block):
        truth = targets[start : start + block].toarray() > 0
        keep = truth.any(axis=1)
        ranking = np.argsort(-scores[start : start + block][keep], axis=1, kind="stable")[:, :k_max]
        hits = np.take_along_axis(truth[keep], ranking, axis=1)
        num_true = truth[keep].sum(axis=1)
        docs += int(keep.sum())
        for k in ks:
            sums[f"P@{k}"] += hits[:, :k].sum() / k
            ideal = np.cumsum(discounts)[np.minimum(k, num_true) - 1]
            sums[f"nDCG@{k}"] += ((hits[:, :k] * discounts[:k]).sum(axis=1) / ideal).sum()
    return {key: value / docs for key, value in sums.items()}


def random_targets(docs: int, labels: int, per_doc: float, rng: np.random.Generator) -> sp.csr_matrix:
    """Multi-hot CSR with a Poisson(per_doc) number of uniformly drawn labels per document."""
    counts = rng.poisson(per_doc, docs)
    rows = np.repeat(np.arange(docs), counts)
    columns = rng.integers(0, labels, counts.sum())
    targets = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, columns)), shape=(docs, labels))
    targets.data[:] = 1.0  # duplicates were summed
    return targets


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=4_000)
    parser.add_argument("--labels-per-doc", type=float, default=5.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    scores = rng.random((args.docs, args.labels), dtype=np.float32)
    targets = random_targets(args.docs, args.labels, args.labels_per_doc, rng)
    ours, ours_s = timed(evaluate, scores, targets, ks=KS)
    naive, naive_s = timed(naive_evaluate, scores, targets)
    agree = all(np.isclose(ours[key], naive[key]) for key in naive)
    skipped = int((np.diff(targets.indptr) == 0).sum())
    print(f"scores {args.docs:,} x {args.labels:,} float32, {targets.nnz:,} true labels, ks={KS}")
    print(f"documents without a label (skipped by both): {skipped:,}")
    print(f"{'implementation':<40} {'seconds':>8}")
    print(f"{'evaluate (partition + row blocks)':<40} {ours_s:8.2f}")
    print(f"{'naive (full argsort per row)':<40} {naive_s:8.2f}")
    print(f"speed-up: {naive_s / ours_s:.1f}x; metrics agree: {agree}")


if __name__ == "__main__":
    main()
