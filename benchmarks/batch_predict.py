"""Streaming batch prediction: batches sorted by length inside each window against plain in-order batches.

Run: python benchmarks/batch_predict.py [--run RUN_DIR] [--dataset goemotions-sample] [--docs 2000] [--threads 2]
Without --run, an untrained UCLAF model (MiniLM + LAN) at 128 tokens stands in (weights do not change the speed).
Both arms stream the same documents through `predict_stream` (window 1024, batch 64) in one process, alternating,
and print docs/s, the ratio, and whether the label sets and scores agree.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from uclaf_plugin.data import load_dataset
from uclaf_plugin.pipeline import ModelConfig, TextClassifier
from uclaf_plugin.predict import RunPredictor, predict_stream


def documents(dataset: str, count: int) -> list[str]:
    """``count`` texts of the dataset's test split (repeated when it has fewer)."""
    texts = load_dataset(dataset).split("test").texts
    return [texts[i % len(texts)] for i in range(count)]


def stand_in_run(folder: str, label_names: list[str]) -> str:
    TextClassifier.from_config(ModelConfig(contrastive=None, max_length=128), label_names).save(folder)
    return folder


def timed_stream(predictor: RunPredictor, texts: list[str], window: int) -> tuple[list[dict], float]:
    started = time.perf_counter()
    records = list(
        predict_stream(predictor, ({"line": i, "text": t} for i, t in enumerate(texts)), 5, window)
    )
    return records, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="A run folder (default: an untrained UCLAF stand-in).")
    parser.add_argument("--dataset", default="goemotions-sample")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = documents(args.dataset, args.docs)
    with tempfile.TemporaryDirectory() as temp:
        run = args.run or stand_in_run(temp, list(load_dataset(args.dataset).label_names))
        arms = {
            "length-sorted windows": RunPredictor(run, batch_size=args.batch_size, sort_by_length=True),
            "in-order batches": RunPredictor(run, batch_size=args.batch_size, sort_by_length=False),
        }
        seconds = {name: [] for name in arms}
        outputs = {}
        for _ in range(args.repeats):
            for name, predictor in arms.items():
                outputs[name], elapsed = timed_stream(predictor, texts, args.window)
                seconds[name].append(elapsed)
    lengths = [len(ids) for ids in arms["in-order batches"].classifier.tokenize(texts)]
    print(
        f"{args.docs} {args.dataset} test documents, tokens per document: mean {np.mean(lengths):.0f}, "
        f"max {max(lengths)}; batch {args.batch_size}, window {args.window}, {args.threads} threads; "
        f"best of {args.repeats}"
    )
    rates = {name: args.docs / min(times) for name, times in seconds.items()}
    for name, rate in rates.items():
        print(f"{name:<24} {rate:8.1f} docs/s")
    sorted_out, plain_out = outputs["length-sorted windows"], outputs["in-order batches"]
    same_sets = all(a["labels"] == b["labels"] for a, b in zip(sorted_out, plain_out, strict=True))
    gap = max(
        abs(a["scores"][k] - b["scores"].get(k, np.inf))
        for a, b in zip(sorted_out, plain_out, strict=True)
        for k in a["scores"]
    )
    print(
        f"ratio (length-sorted / in-order): {rates['length-sorted windows'] / rates['in-order batches']:.2f}x; "
        f"same label sets: {same_sets}; largest top-5 score difference: {gap:.1e}"
    )


if __name__ == "__main__":
    main()
