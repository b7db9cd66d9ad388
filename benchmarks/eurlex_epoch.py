"""UCLAF's training speed at EURLEX57K's size on this machine: docs/s and the projected hours of a full-split epoch.

    python benchmarks/eurlex_epoch.py [--lengths 128,512] [--steps 3] [--threads N] [--device cpu|cuda]

One training step (forward with the key encoder's momentum update, BCE + CACL, backward, AdamW) at batch 16 and
4,271 labels (5 per document, drawn at random; dense, as the trainer passes them below
``SPARSE_LABELS_FROM`` labels), on random word pieces at full length. Variants: ``bert`` (MiniLM + linear head, the
named alternative), ``uclaf`` as ``--dataset eurlex57k`` trains it with ``--shortlist-size 64`` (MiniLM + LAN
attending over each document's top-64 proposed labels + per-label CACL), and ``uclaf`` with the exact LAN head over
all 4,271 labels. They take turns step by step (``train_throughput.interleaved_step_seconds``), so a change in the
machine's load hits them alike. Printed per length: seconds per step, docs/s, the ratio to ``bert``, and the hours
one epoch over the 45,000 train acts would take at that rate.
"""

from __future__ import annotations

import argparse
import copy

import torch
from train_throughput import TimedVariant, interleaved_step_seconds, random_batch

from uclaf_plugin.encoders.transformer import TransformerEncoder, load_tokenizer
from uclaf_plugin.model import UCLAF

EURLEX57K_TRAIN_DOCS = 45_000
EURLEX57K_LABELS = 4_271
VARIANTS = {
    "bert": {"head": "linear", "contrastive": None},
    "uclaf, shortlist 64": {"head": "lan", "contrastive": "per_label", "head_kwargs": {"shortlist_size": 64}},
    "uclaf, exact LAN": {"head": "lan", "contrastive": "per_label"},
}
EXACT = "uclaf, exact LAN"


def eurlex_like_batch(batch_size: int, length: int, labels_per_doc: int = 5):
    """Random word pieces ``(B, T)``, a full mask, and ``labels_per_doc`` distinct random labels per document."""
    input_ids, mask, _ = random_batch(batch_size, length, num_labels=1)
    generator = torch.Generator().manual_seed(1)
    labels = torch.zeros(batch_size, EURLEX57K_LABELS)
    for row in labels:
        row[torch.randperm(EURLEX57K_LABELS, generator=generator)[:labels_per_doc]] = 1.0
    return input_ids, mask, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="128,512", help="comma-separated token counts per document")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--exact-up-to", type=int, default=512, help="time the exact LAN head only at lengths up to this"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tokenizer, encoder = load_tokenizer(), TransformerEncoder()
    print(
        f"device {device}, threads {torch.get_num_threads()}, batch {args.batch_size}, L={EURLEX57K_LABELS}, "
        f"{args.steps} timed steps"
    )
    print(f"{'T':>5} {'variant':<20} {'s/step':>8} {'docs/s':>7} {'x bert':>7} {'h/epoch (45,000 docs)':>22}")
    for length in (int(value) for value in args.lengths.split(",")):
        batch = eurlex_like_batch(args.batch_size, length)
        variants = {}
        for name, parts in VARIANTS.items():
            if name == EXACT and length > args.exact_up_to:
                continue
            torch.manual_seed(0)
            model = UCLAF(
                copy.deepcopy(encoder), EURLEX57K_LABELS, mask_token_id=tokenizer.mask_token_id, **parts
            )
            variants[name] = TimedVariant(model.to(device).train(), batch, device)
        seconds = interleaved_step_seconds(variants, args.steps)
        for name, cost in seconds.items():
            docs_per_second = args.batch_size / cost
            hours = EURLEX57K_TRAIN_DOCS / docs_per_second / 3600
            print(
                f"{length:>5} {name:<20} {cost:>8.2f} {docs_per_second:>7.2f} {cost / seconds['bert']:>7.2f} "
                f"{hours:>22.1f}"
            )


if __name__ == "__main__":
    main()
