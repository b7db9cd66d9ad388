"""Training docs/s on AAPD abstracts: plain seeded batches against length-grouped ones and a whole-step bf16 autocast.

Run: ``python benchmarks/step_options.py [--docs 160] [--lengths 128,512]``.

The model is ``uclaf-bench``'s ``uclaf`` on ``aapd`` (MiniLM, LAN, CACL with λ 0.7, τ 5, queue 512, keys at
``key_precision="auto"``), batch 16. Each variant trains on the same first ``--docs`` AAPD ``val`` abstracts for
one pass, in the trainer's own batch order (seed 0): ``default`` is the step before these options (plain seeded
batches, fp32 step; length grouping has been ``TrainConfig``'s default since 2026-12-01);
``group_by_length`` uses ``TrainConfig(group_by_length=True)`` batches (similar lengths together, less padding);
``bf16 step`` runs the whole step under bf16 autocast (``TrainConfig(amp=True)``; only on a CPU with native
bf16, left out elsewhere); ``both`` combines them. Variants take turns step by step, so a change in the
machine's load hits all alike. Each line gives docs/s and its ratio to ``default`` at that max length.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time

import numpy as np
import torch

from uclaf_plugin.bench.spec import build_spec
from uclaf_plugin.contrastive import native_cpu_bf16
from uclaf_plugin.data import load_dataset
from uclaf_plugin.data.batches import label_batch, length_grouped_batches
from uclaf_plugin.pipeline import ModelConfig, TextClassifier, pad_batch
from uclaf_plugin.train import seed_everything

BATCH = 16
VARIANTS = {
    "default": (False, False),
    "group_by_length": (True, False),
    "bf16 step": (False, True),
    "both": (True, True),
}


class Variant:
    """One model copy with its optimizer and its batches for one pass over the documents."""

    def __init__(self, classifier: TextClassifier, ids, targets, grouped: bool, bf16: bool):
        self.model, self.ids, self.targets = copy.deepcopy(classifier.model).train(), ids, targets
        self.pad_id = classifier.tokenizer.pad_token_id
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=1e-5)
        generator = torch.Generator().manual_seed(0)  # as the trainer's epoch 0 with seed 0
        order = torch.randperm(len(ids), generator=generator).numpy()
        lengths = np.array([len(row) for row in ids])
        self.batches = (
            length_grouped_batches(order, lengths, BATCH, generator)
            if grouped
            else [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        )
        self.dtype = torch.bfloat16 if bf16 else None  # main() keeps the bf16 variants for native-bf16 CPUs
        self.seconds = 0.0

    def step(self, index: int) -> None:
        rows = self.batches[index]
        started = time.perf_counter()
        input_ids, mask = pad_batch([self.ids[i] for i in rows], self.pad_id)
        labels = label_batch(self.targets[rows])
        autocast = (
            torch.autocast("cpu", dtype=self.dtype) if self.dtype is not None else contextlib.nullcontext()
        )
        with autocast:
            loss = self.model(input_ids, mask, labels=labels).loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.seconds += time.perf_counter() - started


def docs_per_second(classifier, texts, targets, max_length: int, names) -> dict[str, float]:
    classifier.config.max_length = max_length
    ids = classifier.tokenize(texts)
    variants = {name: Variant(classifier, ids, targets, *VARIANTS[name]) for name in names}
    for variant in variants.values():  # warm-up step, not timed
        variant.step(0)
        variant.seconds = 0.0
    steps = len(variants["default"].batches)
    for index in range(steps):
        for variant in variants.values():
            variant.step(index)
    return {name: len(ids) / variant.seconds for name, variant in variants.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=160, help="AAPD val abstracts per pass")
    parser.add_argument("--lengths", default="128,512", help="max lengths (tokens), comma-separated")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = load_dataset("aapd")
    texts = list(corpus.val.texts[: args.docs])
    targets = corpus.binarize(corpus.val.labels[: args.docs])
    spec = build_spec("aapd", "uclaf")
    seed_everything(0)
    classifier = TextClassifier.from_config(ModelConfig.from_dict(spec.model), corpus.label_names)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.docs} AAPD val docs, batch {BATCH}"
    )
    names = list(VARIANTS) if native_cpu_bf16() else ["default", "group_by_length"]
    if len(names) < len(VARIANTS):
        print(
            "this CPU has no native bf16: TrainConfig(amp=True) runs fp32 here, so the bf16 variants are left out"
        )
    print("| max length | variant | docs/s | × default |")
    print("|---:|---|---:|---:|")
    for max_length in (int(n) for n in args.lengths.split(",")):
        rates = docs_per_second(classifier, texts, targets, max_length, names)
        for name, rate in rates.items():
            print(f"| {max_length} | {name} | {rate:.2f} | {rate / rates['default']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
