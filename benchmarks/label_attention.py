"""Time and peak memory of label attention heads, forward + backward.

Compares the label-chunked additive head (``LabelAttentionHead``) with the same head computed naively (one
autograd graph over the whole ``(B, L, T, a)`` tanh tensor) and with dot-product label attention, at AAPD
scale (L=54) and EURLex scale (L=3956). Each configuration runs in a fresh subprocess, so peak memory
(RSS on CPU, ``torch.cuda.max_memory_allocated`` on CUDA, both minus the process's memory before the first
forward) does not carry over between configurations.

    python benchmarks/label_attention.py [--quick] [--device cuda] [--threads 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

from uclaf_plugin.heads import DotLabelAttentionHead, LabelAttentionHead

GIB = 2**30
IMPLEMENTATIONS = ("chunked", "naive", "dot")
SLOW_STEP_S = 5.0  # a first step this slow is timed too: warm-up effects are small next to it


class NaiveLabelAttentionHead(LabelAttentionHead):
    """LAN with every label's scores in one autograd graph: keeps the (B, L, T, a) tanh for backward."""

    def attention_scores(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        tokens = self.token_proj(features)
        labels = self.label_proj(self.label_embedding)
        hidden = torch.tanh(tokens.unsqueeze(1) + labels[None, :, None])
        return hidden @ self.score.weight.squeeze(0)


def make_head(impl: str, dim: int, num_labels: int) -> torch.nn.Module:
    if impl == "chunked":
        return LabelAttentionHead(dim, num_labels)
    if impl == "naive":
        return NaiveLabelAttentionHead(dim, num_labels)
    return DotLabelAttentionHead(dim, num_labels, hidden_dim=dim)


def peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(impl: str, num_labels: int, batch: int, length: int, dim: int, repeats: int, device: str) -> dict:
    """In this process: the best of ``repeats`` forward + backward steps after a warm-up step (which counts as
    a timed step when it is slower than SLOW_STEP_S), and the peak memory."""
    torch.manual_seed(0)
    device = torch.device(device)
    head = make_head(impl, dim, num_labels).to(device)
    features = torch.randn(batch, length, dim, device=device, requires_grad=True)
    targets = torch.rand(batch, num_labels, device=device).round()
    baseline = peak_bytes(device) if device.type == "cpu" else torch.cuda.memory_allocated(device)

    def timed_step() -> tuple[float, float]:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        logits = head(features).logits
        torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start_wall, time.process_time() - start_cpu

    first = timed_step()
    warm_up_only = first[0] < SLOW_STEP_S
    steps = [timed_step() for _ in range(repeats if warm_up_only else repeats - 1)]
    if not warm_up_only:
        steps.append(first)
    return {
        "impl": impl,
        "L": num_labels,
        "B": batch,
        "T": length,
        "wall_s": min(wall for wall, _ in steps),
        "cpu_s": min(cpu for _, cpu in steps),
        "peak_gib": (peak_bytes(device) - baseline) / GIB,
    }


def measure_in_subprocess(impl: str, num_labels: int, batch: int, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--worker", impl, str(num_labels), str(batch)] + common_flags(args)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} L={num_labels} B={batch} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def common_flags(args: argparse.Namespace) -> list[str]:
    return [
        f"--length={args.length}",
        f"--dim={args.dim}",
        f"--repeats={args.repeats}",
        f"--device={args.device}",
        f"--threads={args.threads}",
    ]


def largest_naive_labels(args: argparse.Namespace, probe_labels: int) -> tuple[int, dict]:
    """Largest L (a multiple of 64) whose naive peak stays under ``--naive-limit-gib``, extrapolated linearly
    from a probe run at ``probe_labels`` (memory grows linearly with L)."""
    probe = measure_in_subprocess("naive", probe_labels, 4, args)
    per_label = probe["peak_gib"] / probe_labels
    return max(64, int(args.naive_limit_gib / per_label) // 64 * 64), probe


def hardware(args: argparse.Namespace) -> str:
    if args.device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(args.device)}, torch {torch.__version__}"
    models = [
        line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
    ]
    cpu = models[0] if models else platform.processor() or platform.machine()
    return f"{os.cpu_count()}-core CPU ({cpu}), {args.threads} threads, torch {torch.__version__}"


def table(rows: list[dict]) -> str:
    lines = [
        "| impl | L | B | T | wall s | cpu s | peak GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['impl']} | {r['L']} | {r['B']} | {r['T']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
        f"{r['peak_gib']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed steps after one warm-up (the best is reported)"
    )
    parser.add_argument("--length", type=int, default=512, help="tokens per document T")
    parser.add_argument("--dim", type=int, default=384, help="feature size d")
    parser.add_argument("--naive-limit-gib", type=float, default=6.0, help="memory the naive head may use")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "L", "B"), help=argparse.SUPPRESS)
    return parser.parse_args()


def run_all(args: argparse.Namespace) -> None:
    if args.quick:
        args.length, args.repeats, args.naive_limit_gib = 64, 1, 0.25
    eurlex = 3956 if not args.quick else 512
    configs = [(impl, 54, 16) for impl in IMPLEMENTATIONS]
    configs += [(impl, eurlex, batch) for batch in (4, 16) for impl in ("chunked", "dot")]
    rows = [measure_in_subprocess(*config, args) for config in configs]

    labels, probe = largest_naive_labels(args, probe_labels=256 if not args.quick else 64)
    naive = measure_in_subprocess("naive", labels, 4, args)
    chunked = measure_in_subprocess("chunked", labels, 4, args)
    rows += [probe, measure_in_subprocess("chunked", probe["L"], 4, args), naive, chunked]

    print(f"{hardware(args)}; T={args.length}, d={args.dim}, a=256, best of {args.repeats} after 1 warm-up")
    print(table(rows))
    print(
        f"\nlargest L with naive peak <= {args.naive_limit_gib:g} GiB (B=4): L={labels}; chunked/naive time "
        f"there: wall {chunked['wall_s'] / naive['wall_s']:.2f}x, "
        f"cpu {chunked['cpu_s'] / naive['cpu_s']:.2f}x (target <= 1.3x)"
    )
    print(
        f"peak memory there: chunked {chunked['peak_gib']:.2f} GiB vs naive {naive['peak_gib']:.2f} GiB "
        f"({naive['peak_gib'] / max(chunked['peak_gib'], 1e-9):.1f}x less)"
    )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        impl, num_labels, batch = args.worker
        print(
            json.dumps(
                measure(impl, int(num_labels), int(batch), args.length, args.dim, args.repeats, args.device)
            )
        )
    else:
        run_all(args)


if __name__ == "__main__":
    main()
