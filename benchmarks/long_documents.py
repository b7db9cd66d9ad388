"""Time and memory per document of the windowed MiniLM encoder at 512, 1,024 and 2,048 tokens (training step).

Run: ``python benchmarks/long_documents.py [--batch 2] [--repeats 3]``. One CPU thread. Each call is a forward and
backward of ``TransformerEncoder()`` (the offline MiniLM, window 512, overlap 128) on ``--batch`` documents of
exactly T tokens, with a mean-pooled sum as the loss. 512 tokens is the plain encoder (one window): the named
alternative, i.e. truncating at the position limit as the paper did. Longer documents go through overlapping windows.

Times: the lengths take turns in a shuffled order each round (median of ``--repeats``), so load from other
processes hits all of them alike. Peak: each length in its own process, the growth of the maximum resident memory
during one call over what the process held before it (model loaded, inputs built).
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

import torch

from uclaf_plugin.encoders.transformer import TransformerEncoder

LENGTHS = (512, 1024, 2048)


def documents(length: int, batch: int, vocab: int = 30_000) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(1_000, vocab, (batch, length), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return ids, torch.ones(batch, length, dtype=torch.long)


def step(encoder: TransformerEncoder, ids: torch.Tensor, mask: torch.Tensor) -> None:
    encoder.zero_grad(set_to_none=True)
    features, _ = encoder(ids, mask)
    features.mean(dim=1).sum().backward()


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def peak_growth_mib(length: int, batch: int) -> float:
    encoder, (ids, mask) = TransformerEncoder().train(), documents(length, batch)
    step(encoder, *documents(64, batch))  # allocate the gradients and warm up on a short input
    before = current_rss_bytes()
    step(encoder, ids, mask)
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before) / 2**20


def median_seconds(batch: int, repeats: int) -> dict[int, float]:
    encoder = TransformerEncoder().train()
    inputs = {length: documents(length, batch) for length in LENGTHS}
    times: dict[int, list[float]] = {length: [] for length in LENGTHS}
    for round_index in range(repeats + 1):  # the first round warms up
        order = list(LENGTHS)
        random.Random(round_index).shuffle(order)
        for length in order:
            start = time.perf_counter()
            step(encoder, *inputs[length])
            times[length].append(time.perf_counter() - start)
    return {length: statistics.median(values[1:]) for length, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2, help="documents per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per length (median)")
    parser.add_argument("--peak-of", type=int, choices=LENGTHS, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.peak_of:
        print(json.dumps(peak_growth_mib(args.peak_of, args.batch)))
        return
    peaks = {}
    for length in LENGTHS:
        command = [sys.executable, __file__, "--peak-of", str(length), "--batch", str(args.batch)]
        peaks[length] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    seconds = median_seconds(args.batch, args.repeats)
    encoder = TransformerEncoder()
    print(f"torch {torch.__version__}, 1 thread, MiniLM, batch {args.batch}, window 512, overlap 128")
    print("| tokens | windows | s / doc (fwd+bwd) | × 512 | MiB / doc (peak growth) | × 512 | tokens × 512 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for length in LENGTHS:
        per_doc, mib = seconds[length] / args.batch, peaks[length] / args.batch
        time_ratio, memory_ratio = seconds[length] / seconds[512], peaks[length] / peaks[512]
        windows = len(encoder.window_starts(length))
        print(
            f"| {length} | {windows} | {per_doc:.2f} | {time_ratio:.2f} | {mib:.0f} | {memory_ratio:.2f} "
            f"| {length / 512:.0f} |"
        )
    print(
        "\nLinear growth: time and memory follow the number of 512-token windows (1, 3, 5), not the square of the"
        " length (1, 4, 16 for full attention over the whole document)."
    )


if __name__ == "__main__":
    main()
