"""ONNX Runtime (CPU) against PyTorch eager: docs/s of the same exported classifier on the same documents.

Run: python benchmarks/onnx_speed.py [--run RUN_DIR] [--dataset goemotions-sample] [--docs 1000] [--threads 2]
Without --run, untrained stand-ins are exported (weights do not change the speed): `bert` (MiniLM + linear head)
and `uclaf` (MiniLM + LAN) at 128 tokens. Both runtimes batch the same length-sorted documents (batch 64) with the
same thread count, alternating, best of --repeats; prints docs/s, the ratio and the largest score difference.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from uclaf_plugin.data import load_dataset
from uclaf_plugin.export import export_onnx
from uclaf_plugin.onnx_serve import OnnxClassifier
from uclaf_plugin.pipeline import ModelConfig, TextClassifier

STAND_INS = {"bert": "linear", "uclaf": "lan"}


def best_rate(function, texts: list[str], repeats: int) -> tuple[np.ndarray, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        scores = function(texts)
        times.append(time.perf_counter() - started)
    return scores, len(texts) / min(times)


def compare(run: Path, texts: list[str], args) -> None:
    folder = export_onnx(run, run / "onnx")
    classifier = TextClassifier.load(run)
    served = OnnxClassifier(folder, threads=args.threads)
    eager = lambda batch: classifier.scores(batch, batch_size=args.batch_size, sort_by_length=True)  # noqa: E731
    onnx = lambda batch: served.scores(batch, batch_size=args.batch_size)  # noqa: E731
    eager(texts[:64]), onnx(texts[:64])  # warm-up
    rates, outputs = {}, {}
    for _ in range(args.repeats):  # alternate, so that both see the same machine load
        outputs["pytorch"], rate = best_rate(eager, texts, 1)
        rates["pytorch"] = max(rates.get("pytorch", 0.0), rate)
        outputs["onnx"], rate = best_rate(onnx, texts, 1)
        rates["onnx"] = max(rates.get("onnx", 0.0), rate)
    gap = np.abs(outputs["onnx"] - outputs["pytorch"]).max()
    print(
        f"{run.name:<6} head={classifier.config.head:<6} pytorch eager {rates['pytorch']:7.1f} docs/s | "
        f"onnxruntime {rates['onnx']:7.1f} docs/s | ratio {rates['onnx'] / rates['pytorch']:.2f}x | "
        f"max |score diff| {gap:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="A neural run folder (default: untrained bert and uclaf stand-ins).")
    parser.add_argument("--dataset", default="goemotions-sample")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    test = data.split("test").texts
    texts = [test[i % len(test)] for i in range(args.docs)]
    print(f"{args.docs} {args.dataset} test documents, batch {args.batch_size}, {args.threads} threads, CPU")
    with tempfile.TemporaryDirectory() as temp:
        runs = [Path(args.run)] if args.run else []
        for name, head in [] if args.run else STAND_INS.items():
            config = ModelConfig(head=head, contrastive=None, max_length=128)
            runs.append(TextClassifier.from_config(config, list(data.label_names)).save(Path(temp) / name))
        for run in runs:
            compare(run, texts, args)


if __name__ == "__main__":
    main()
