"""CACLLoss per_label with sparse labels at L=670,000 against the same call with dense labels at L=54.

Run: ``python benchmarks/sparse_labels.py [--repeats N]``. One CPU thread. B=64 anchors, a memory of K=4,096 keys
plus the batch's own keys as references (as in UCLAF), d=128, labels drawn by Zipf popularity.

- ``sparse L=670000``: anchor labels a torch sparse CSR batch, reference labels the sparse COO rows of the batch
  and the memory (what ``MultiLabelQueue(label_storage="sparse")`` returns), 5 labels per document.
- ``dense L=54``: the same call with dense bool labels over AAPD's 54 labels (2.41 per document): today's use.

Times: the two configurations take turns in a shuffled order each round (median of ``--repeats``), so load from
other processes hits both alike. Peak: each configuration in its own process, the growth of the process's maximum
resident memory during three forward+backward calls over what it held before them (inputs already built).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from uclaf_plugin.losses import CACLLoss

BATCH, MEMORY, DIM, TEMPERATURE = 64, 4096, 128, 0.1
CONFIGS = {"sparse L=670000": (670_000, 5.0, True), "dense L=54": (54, 2.41, False)}
TARGET_PEAK_GIB, TARGET_RATIO = 1.0, 2.0


def zipf_label_coordinates(
    rows: int, num_labels: int, mean_labels: float, rng
) -> tuple[np.ndarray, np.ndarray]:
    """``(row, label)`` pairs: ``round(mean)`` draws per row (at least 1) by Zipf popularity, duplicates kept once."""
    popularity = 1.0 / np.arange(1, num_labels + 1)
    per_row = rng.poisson(mean_labels - 1, rows) + 1 if mean_labels % 1 else np.full(rows, int(mean_labels))
    row_ids = np.repeat(np.arange(rows), per_row)
    labels = rng.choice(num_labels, size=row_ids.size, p=popularity / popularity.sum())
    pairs = np.unique(np.stack([row_ids, labels]), axis=1)
    return pairs[0], pairs[1]


def label_matrix(rows: int, num_labels: int, mean_labels: float, sparse: bool, rng) -> torch.Tensor:
    row_ids, labels = (
        torch.from_numpy(a) for a in zipf_label_coordinates(rows, num_labels, mean_labels, rng)
    )
    values = torch.ones(len(row_ids), dtype=torch.bool)
    matrix = torch.sparse_coo_tensor(torch.stack([row_ids, labels]), values, (rows, num_labels)).coalesce()
    return matrix if sparse else matrix.to_dense()


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def make_call(name: str):
    """The forward+backward of one configuration as a function of the anchors."""
    num_labels, mean_labels, sparse = CONFIGS[name]
    labels = label_matrix(BATCH + MEMORY, num_labels, mean_labels, sparse, np.random.default_rng(0))
    anchor_labels = labels.index_select(0, torch.arange(BATCH)) if sparse else labels[:BATCH]
    if sparse:
        anchor_labels = anchor_labels.to_sparse_csr()
    refs = torch.randn(BATCH + MEMORY, DIM, generator=torch.Generator().manual_seed(1))
    loss_fn = CACLLoss(TEMPERATURE, positives="per_label")

    def call(emb: torch.Tensor) -> None:
        x = emb.clone().requires_grad_()
        loss_fn(x, anchor_labels, ref_emb=refs, ref_labels=labels).backward()

    return call


def peak_growth_mib(name: str, calls: int = 3) -> float:
    """Growth of the maximum resident memory during ``calls`` forward+backward calls (run in a fresh process)."""
    call, emb = make_call(name), torch.randn(BATCH, DIM)
    before = current_rss_bytes()
    for _ in range(calls):
        call(emb)
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before) / 2**20


def median_ms(repeats: int) -> dict[str, float]:
    """Median time per configuration; configurations alternate in a shuffled order, so load hits both alike."""
    calls, emb = {name: make_call(name) for name in CONFIGS}, torch.randn(BATCH, DIM)
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for round_index in range(repeats + 1):  # the first round warms up
        order = list(CONFIGS)
        random.Random(round_index).shuffle(order)
        for name in order:
            start = time.perf_counter()
            calls[name](emb)
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values[1:]) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per configuration (median)")
    parser.add_argument("--peak-of", choices=list(CONFIGS), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.peak_of:
        print(json.dumps(peak_growth_mib(args.peak_of)))
        return
    print(f"torch {torch.__version__}, 1 thread, B={BATCH}, K={MEMORY} (+{BATCH} batch keys), d={DIM}")
    peaks = {}
    for name in CONFIGS:
        command = [sys.executable, __file__, "--peak-of", name]
        peaks[name] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    timings = median_ms(args.repeats)
    print("| labels | ms (fwd+bwd, median) | peak memory growth (MiB) |")
    print("|---|---:|---:|")
    for name in CONFIGS:
        print(f"| {name} | {timings[name]:.1f} | {peaks[name]:.0f} |")
    ratio = timings["sparse L=670000"] / timings["dense L=54"]
    print(
        f"\nsparse L=670,000 takes {ratio:.2f}x the time of dense L=54 (target <= {TARGET_RATIO}x); "
        f"peak growth {peaks['sparse L=670000']:.0f} MiB (target < {TARGET_PEAK_GIB * 1024:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
