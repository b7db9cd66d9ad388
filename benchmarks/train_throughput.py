"""Documents per second of one training step: baseline vs +LAN vs +CACL vs UCLAF.

    python benchmarks/train_throughput.py [--quick] [--device cpu|cuda] [--threads N]

Variants: the baseline (encoder, linear head, BCE), +LAN (label attention head), +CACL (momentum key encoder,
queue, contrastive loss) and UCLAF (both), all at their defaults, so the key branch runs at
``key_precision="auto"``: bf16 on a CPU with native bf16, fp32 elsewhere. Where that means bf16, UCLAF with
``key_precision="fp32"`` is timed too. Encoders: MiniLM at T=128 and T=256, and XML-CNN at T=256. Every variant
runs the same random batch for the same number of timed steps after a warm-up, in this one process, and the
variants of an encoder take turns step by step, so a change in the machine's load hits them all alike. The last
line is ``ratio: X``, the UCLAF step cost over the baseline step cost for MiniLM at T=128; with fp32 keys timed,
the line before it gives the same ratio for them.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from uclaf_plugin.encoders.transformer import TransformerEncoder, load_tokenizer
from uclaf_plugin.encoders.xmlcnn import XMLCNN
from uclaf_plugin.model import UCLAF, resolve_key_precision

VARIANTS = {
    "baseline": {"head": "linear", "contrastive": None},
    "+LAN": {"head": "lan", "contrastive": None},
    "+CACL": {"head": "linear", "contrastive": "per_label"},
    "UCLAF": {"head": "lan", "contrastive": "per_label"},
}
# Where the default key precision resolves to bf16, also UCLAF with fp32 keys, the named alternative.
FP32_KEYS = "UCLAF fp32 keys"
WITH_FP32_KEYS = {**VARIANTS, FP32_KEYS: {**VARIANTS["UCLAF"], "key_precision": "fp32"}}


class TimedVariant:
    """One model with its optimizer, timed one training step at a time."""

    def __init__(self, model: UCLAF, batch, device):
        self.model, self.device = model, device
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        self.batch = tuple(t.to(device) for t in batch)
        self.times: list[float] = []

    def step(self, record: bool = True) -> None:
        """Forward (with the key encoder's momentum update) + backward + AdamW step."""
        input_ids, mask, labels = self.batch
        self._sync()
        started = time.perf_counter()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            loss = self.model(input_ids, mask, labels=labels).loss
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self._sync()
        if record:
            self.times.append(time.perf_counter() - started)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def interleaved_step_seconds(variants: dict[str, TimedVariant], steps: int) -> dict[str, float]:
    """Median step time of each variant, timed round-robin so that a change in machine load hits all alike."""
    for variant in variants.values():  # the first step warms up allocators and caches
        variant.step(record=False)
    for _ in range(steps):
        for variant in variants.values():
            variant.step()
    return {name: statistics.median(variant.times) for name, variant in variants.items()}


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
    steps = 5 if args.quick else 10
    tokenizer = load_tokenizer()
    minilm = TransformerEncoder()
    encoders = {"MiniLM T=128": (minilm, 128), "MiniLM T=256": (minilm, 256), "XML-CNN T=256": (None, 256)}
    key_precision = resolve_key_precision("auto", device.type)
    print(
        f"device {device}, threads {torch.get_num_threads()}, batch {args.batch_size}, L={args.labels}, "
        f"{steps} timed steps, keys {key_precision}"
    )
    print(f"{'encoder':<15} {'variant':<15} {'s/step':>8} {'docs/s':>8} {'x baseline':>10}")
    costs = {}
    for encoder_name, (encoder, length) in encoders.items():
        batch = random_batch(args.batch_size, length, args.labels)
        variants = {}
        for variant, parts in (WITH_FP32_KEYS if key_precision == "bf16" else VARIANTS).items():
            torch.manual_seed(0)
            module = copy.deepcopy(encoder) if encoder is not None else XMLCNN()
            model = UCLAF(module, args.labels, queue_size=512, mask_token_id=tokenizer.mask_token_id, **parts)
            variants[variant] = TimedVariant(model.to(device).train(), batch, device)
        seconds = interleaved_step_seconds(variants, steps)
        for variant, cost in seconds.items():
            costs[encoder_name, variant] = cost
            relative = cost / seconds["baseline"]
            print(
                f"{encoder_name:<15} {variant:<15} {cost:>8.3f} {args.batch_size / cost:>8.1f} {relative:>10.2f}"
            )
    baseline = costs["MiniLM T=128", "baseline"]
    if ("MiniLM T=128", FP32_KEYS) in costs:
        print(f"ratio with fp32 keys: {costs['MiniLM T=128', FP32_KEYS] / baseline:.2f}")
    print(f"ratio: {costs['MiniLM T=128', 'UCLAF'] / baseline:.2f}")


if __name__ == "__main__":
    main()
