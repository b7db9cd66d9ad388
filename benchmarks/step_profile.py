"""Where a training step's time goes on CUDA: device-busy time, kernel launches and host syncs per step.

    python benchmarks/step_profile.py [--batch-size 64] [--length 128]

Runs the baseline, +CACL and UCLAF variants of ``train_throughput.py`` (MiniLM) under ``torch.profiler`` for a
few steps each. When a step's wall time is well above its device-busy time, the step is bound by the host
(kernel launches, synchronisations), not by the GPU's arithmetic. The last line is ``busy ratio: X``, UCLAF's
device-busy time per step over the baseline's, to read beside ``train_throughput.py``'s wall-time ``ratio``.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile
from train_throughput import VARIANTS, TimedVariant, random_batch

from uclaf_plugin.encoders.transformer import TransformerEncoder, load_tokenizer
from uclaf_plugin.model import UCLAF

HOST_SYNCS = ("cudaStreamSynchronize",)
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC")


def profile_variant(variant: TimedVariant, steps: int) -> dict[str, float]:
    """Wall ms, device-busy ms, kernel launches and host syncs per step, over ``steps`` profiled steps."""
    for _ in range(3):
        variant.step(record=False)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
        for _ in range(steps):
            variant.step()
    events = profiler.key_averages()

    def count(names: tuple[str, ...]) -> float:
        return sum(event.count for event in events if event.key in names) / steps

    return {
        "wall_ms": 1e3 * sum(variant.times) / len(variant.times),
        "busy_ms": sum(event.self_device_time_total for event in events) / steps / 1e3,
        "launches": count(LAUNCHES),
        "syncs": count(HOST_SYNCS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--labels", type=int, default=54)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("step_profile.py needs a CUDA device; on the CPU use train_throughput.py")
    device = torch.device("cuda")
    tokenizer = load_tokenizer()
    batch = random_batch(args.batch_size, args.length, args.labels)
    print(f"{torch.cuda.get_device_name()}, MiniLM T={args.length}, batch {args.batch_size}, L={args.labels}")
    print(f"{'variant':<9} {'wall ms':>8} {'busy ms':>8} {'launches':>9} {'host syncs':>10}")
    results = {}
    for name in ("baseline", "+CACL", "UCLAF"):
        torch.manual_seed(0)
        model = UCLAF(
            TransformerEncoder(),
            args.labels,
            queue_size=512,
            mask_token_id=tokenizer.mask_token_id,
            **VARIANTS[name],
        )
        results[name] = row = profile_variant(
            TimedVariant(model.to(device).train(), batch, device), args.steps
        )
        print(
            f"{name:<9} {row['wall_ms']:>8.1f} {row['busy_ms']:>8.1f} {row['launches']:>9.0f} {row['syncs']:>10.0f}"
        )
    print(f"busy ratio: {results['UCLAF']['busy_ms'] / results['baseline']['busy_ms']:.2f}")


if __name__ == "__main__":
    main()
