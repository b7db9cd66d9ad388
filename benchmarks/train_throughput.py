"""Documents per second of one training step: baseline vs +LAN vs +CACL vs UCLAF.

    python benchmarks/train_throughput.py [--quick] [--device cpu|cuda] [--threads N]

Variants: the baseline (encoder, linear head, BCE), +LAN (label attention head), +CACL (momentum key encoder,
queue, contrastive loss) and UCLAF (both). Encoders: MiniLM at T=128 and T=256, and XML-CNN at T=256. Every
variant runs the same random batch for the same number of timed steps after a warm-up, in this one process, so
the ratios compare like with like. The last line is ``ratio: X``, the UCLAF step cost over the baseline step cost
for MiniLM at T=128.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from uclaf_plugin.adapters.transformer import TransformerEncoder, load_tokenizer
from uclaf_plugin.adapters.xmlcnn import XMLCNN
from uclaf_plugin.model import UCLAF

VARIANTS = {
    "baseline": {"head": "linear", "contrastive": None},
    "+LAN": {"head": "lan", "contrastive": None},
    "+CACL": {"head": "linear", "contrastive": "per_label"},
    "UCLAF": {"head": "lan", "contrastive": "per_label"},
}


def step_seconds(model: UCLAF, batch, steps: int, device) -> float:
    """Median wall time of forward + backward + AdamW step + momentum update."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    input_ids, mask, labels = (t.to(device) for t in batch)
    times = []
    for step in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model(input_ids, mask, labels=labels)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.momentum_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up allocators and caches
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def random_batch(batch_size: int, length: int, num_labels: int, vocab: int = 30522):
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, vocab, (batch_size, length), generator=generator)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    labels = (torch.rand(batch_size, num_labels, generator=generator) < 0.05).float()
    labels[:, 0] = 1.0
    return input_ids, mask, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (under 10 minutes on 2 CPU cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--labels", type=int, default=54, help="label count (54 = AAPD)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = 3 if args.quick else 8
    tokenizer = load_tokenizer()
    minilm = TransformerEncoder()
    encoders = {"MiniLM T=128": (minilm, 128), "MiniLM T=256": (minilm, 256), "XML-CNN T=256": (None, 256)}
    print(
        f"device {device}, threads {torch.get_num_threads()}, batch {args.batch_size}, L={args.labels}, {steps} timed steps"
    )
    print(f"{'encoder':<15} {'variant':<9} {'s/step':>8} {'docs/s':>8} {'x baseline':>10}")
    costs = {}
    for encoder_name, (encoder, length) in encoders.items():
        batch = random_batch(args.batch_size, length, args.labels)
        for variant, parts in VARIANTS.items():
            torch.manual_seed(0)
            module = copy.deepcopy(encoder) if encoder is not None else XMLCNN()
            model = (
                UCLAF(module, args.labels, queue_size=512, mask_token_id=tokenizer.mask_token_id, **parts)
                .to(device)
                .train()
            )
            seconds = step_seconds(model, batch, steps, device)
            costs[encoder_name, variant] = seconds
            relative = seconds / costs[encoder_name, "baseline"]
            print(
                f"{encoder_name:<15} {variant:<9} {seconds:>8.3f} {args.batch_size / seconds:>8.1f} {relative:>10.2f}"
            )
    print(f"ratio: {costs['MiniLM T=128', 'UCLAF'] / costs['MiniLM T=128', 'baseline']:.2f}")


if __name__ == "__main__":
    main()
