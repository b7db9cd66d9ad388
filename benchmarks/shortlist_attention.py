"""Shortlisted LAN (issue 20) against dot-product label attention: forward + backward time and peak memory.

Two configurations, each head in a fresh subprocess (peak memory = RSS on CPU, ``torch.cuda.max_memory_allocated``
on CUDA; "step peak" subtracts the process's memory once the head and inputs are built, "process peak" does not):

- EURLex scale (B=16, T=512, d=384, a=256, L=4,271): ``LabelAttentionHead(shortlist_size=64)`` trained through
  its :meth:`loss` (candidates' BCE + the proposal scorer's BCE), against ``DotLabelAttentionHead`` (AttentionXML
  form, ``hidden_dim=d``) with BCE over every label, on the same input. Target: ratio <= 1.3.
- The same EURLex-scale step with the candidates scored one document at a time (``per-document``, the head's
  implementation before the batched :func:`label_token_scores` call; the loop is kept here as the named
  alternative): the batched pass is what lets the GPU run the shortlist without waiting on the host.
- L = 100,000 (synthetic), B=16, T=256, C=64: the shortlisted head completes with peak memory under 3 GiB.

Targets have 5 true labels per document. ``--quick`` shrinks every size (a smoke run, not the targets).

    python benchmarks/shortlist_attention.py [--quick] [--device cuda] [--threads 2] [--repeats 2] [--scoring paper]
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
import torch.nn.functional as F

from uclaf_plugin.heads import SCORINGS, DotLabelAttentionHead, LabelAttentionHead
from uclaf_plugin.heads.common import masked_softmax
from uclaf_plugin.heads.scores import label_token_scores

GIB = 2**30
POSITIVES = 5


class PerDocumentShortlistHead(LabelAttentionHead):
    """The shortlisted head as it was before the batched kernel: each document's candidates scored in turn."""

    def _candidate_logits(self, features, mask, candidates):
        interaction = SCORINGS[self.scoring][0]
        tokens = self.token_proj(features)
        labels = self.label_proj(self.label_embedding[candidates]).to(tokens.dtype)
        scores = tokens.new_zeros(*candidates.shape, features.shape[1])
        for row in range(features.shape[0]):
            real = mask[row]
            v = self.scoring_vectors(candidates[row]).to(tokens.dtype)
            scores[row][:, real] = label_token_scores(
                tokens[row][real], labels[row], v, self.label_chunk_size, interaction
            )
        attention = masked_softmax(scores, mask).to(features.dtype)
        return self._classify(torch.bmm(attention, features), candidates), attention


def make_head(impl: str, dim: int, num_labels: int, shortlist: int, scoring: str) -> torch.nn.Module:
    if impl in ("shortlisted", "per-document"):
        head_class = LabelAttentionHead if impl == "shortlisted" else PerDocumentShortlistHead
        return head_class(dim, num_labels, shortlist_size=shortlist, scoring=scoring)
    return DotLabelAttentionHead(dim, num_labels, hidden_dim=dim)


def peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(impl: str, size: dict, args: argparse.Namespace) -> dict:
    """Best of ``--repeats`` forward + backward steps after one warm-up, and the peak memory, in this process."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    batch, length, labels = size["B"], size["T"], size["L"]
    head = make_head(impl, args.dim, labels, size["C"], args.scoring).to(device)
    features = torch.randn(batch, length, args.dim, device=device, requires_grad=True)
    targets = torch.zeros(batch, labels, device=device)
    targets.scatter_(1, torch.randint(labels, (batch, POSITIVES), device=device), 1.0)
    baseline = peak_bytes(device) if device.type == "cpu" else torch.cuda.memory_allocated(device)

    def step() -> float:
        start = time.perf_counter()
        if impl != "dot":
            loss = head.loss(features, None, targets)
        else:
            loss = F.binary_cross_entropy_with_logits(head(features).logits, targets)
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    step()
    wall = min(step() for _ in range(args.repeats))
    peak = peak_bytes(device)
    return {
        "impl": impl,
        **size,
        "wall_s": wall,
        "peak_gib": (peak - baseline) / GIB,
        "process_gib": peak / GIB,
    }


def in_subprocess(impl: str, size: dict, args: argparse.Namespace) -> dict:
    flags = [f"--{name}={value}" for name, value in (("dim", args.dim), ("repeats", args.repeats))]
    flags += [f"--device={args.device}", f"--threads={args.threads}", f"--scoring={args.scoring}"]
    command = [sys.executable, __file__, "--worker", impl, json.dumps(size), *flags]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} {size} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def hardware(args: argparse.Namespace) -> str:
    if args.device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(args.device)}, torch {torch.__version__}"
    models = [
        line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
    ]
    cpu = models[0] if models else platform.processor() or platform.machine()
    return f"{os.cpu_count()}-core CPU ({cpu}), {args.threads} threads, torch {torch.__version__}"


def run_all(args: argparse.Namespace) -> None:
    if args.quick:
        args.dim = 96
        eurlex, large = dict(B=4, T=128, L=1000, C=16), dict(B=4, T=64, L=20_000, C=16)
    else:
        eurlex, large = dict(B=16, T=512, L=4271, C=64), dict(B=16, T=256, L=100_000, C=64)
    rows = [in_subprocess(impl, eurlex, args) for impl in ("shortlisted", "dot", "per-document")]
    rows.append(in_subprocess("shortlisted", large, args))
    print(
        f"{hardware(args)}; d={args.dim}, a=256, scoring={args.scoring}, best of {args.repeats} after 1 warm-up"
    )
    print("| head | B | T | L | C | forward+backward s | step peak GiB | process peak GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        candidates = r["C"] if r["impl"] != "dot" else "–"
        sizes = f"{r['B']} | {r['T']} | {r['L']:,} | {candidates}"
        memory = f"{r['peak_gib']:.2f} | {r['process_gib']:.2f}"
        print(f"| {r['impl']} | {sizes} | {r['wall_s']:.2f} | {memory} |")
    ratio = rows[0]["wall_s"] / rows[1]["wall_s"]
    print(f"\nshortlisted LAN / DotLabelAttentionHead at L={eurlex['L']:,}: {ratio:.2f}x (target <= 1.3x)")
    batched = rows[0]["wall_s"] / rows[2]["wall_s"]
    print(f"batched candidates / one document at a time at L={eurlex['L']:,}: {batched:.2f}x")
    print(
        f"L={large['L']:,}: step peak {rows[3]['peak_gib']:.2f} GiB above the built head, whole process "
        f"{rows[3]['process_gib']:.2f} GiB (target < 3 GiB)"
    )
    print(f"ratio: {ratio:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed steps after one warm-up (the best is kept)"
    )
    parser.add_argument("--dim", type=int, default=384, help="feature size d")
    parser.add_argument("--scoring", default="paper", choices=list(SCORINGS), help="LAN's attention score")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "SIZE"), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        impl, size = args.worker
        print(json.dumps(measure(impl, json.loads(size), args)))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
