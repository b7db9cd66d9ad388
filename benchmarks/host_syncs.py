"""Host synchronisations per training step, counted on any device: UCLAF against the baseline step.

    python benchmarks/host_syncs.py [--batch-size 16] [--length 128] [--labels 54]

On a GPU every read of a tensor value (``bool(t)``, ``float(t)``) and every operation whose output size depends
on values (``nonzero``, boolean-mask indexing) makes the host wait until the device has caught up; a step with many
of them is bound by the host (``benchmarks/step_profile.py`` shows it as ``cudaStreamSynchronize`` on CUDA). This
script counts those operations with :class:`~uclaf_plugin.diagnostics.HostSyncCounter` in the forward and backward
of one training step of each ``train_throughput.py`` variant (MiniLM; the optimizer step is left out: it is the same
for all, and AdamW's step counters live on the host), with float labels as the trainer's batches hold them, and
lists where UCLAF's come from. The last line is ``ratio: X``, UCLAF's count over the baseline's.
"""

from __future__ import annotations

import argparse
import copy

import torch
from train_throughput import VARIANTS, random_batch

from uclaf_plugin.diagnostics import HostSyncCounter
from uclaf_plugin.encoders.transformer import TransformerEncoder, load_tokenizer
from uclaf_plugin.model import UCLAF


def count_step_syncs(model: UCLAF, batch) -> HostSyncCounter:
    """The host syncs of one forward + backward, after a first step (which copies the key branch)."""
    input_ids, mask, labels = batch
    model(input_ids, mask, labels=labels).loss.backward()
    with HostSyncCounter() as syncs:
        model(input_ids, mask, labels=labels).loss.backward()
    return syncs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--labels", type=int, default=54, help="label count (54 = AAPD)")
    args = parser.parse_args()
    tokenizer = load_tokenizer()
    minilm = TransformerEncoder()
    input_ids, mask, labels = random_batch(args.batch_size, args.length, args.labels)
    batch = (input_ids, mask, labels)
    print(f"torch {torch.__version__}, MiniLM, batch {args.batch_size}, T={args.length}, L={args.labels}")
    print(f"{'variant':<10} {'host syncs':>10}")
    totals = {}
    for variant, parts in VARIANTS.items():
        torch.manual_seed(0)
        model = UCLAF(
            copy.deepcopy(minilm), args.labels, queue_size=512, mask_token_id=tokenizer.mask_token_id, **parts
        )
        syncs = count_step_syncs(model.train(), batch)
        totals[variant] = syncs.total
        print(f"{variant:<10} {syncs.total:>10}")
        if variant == "UCLAF":
            for site, count in syncs.sites.most_common():
                print(f"    {count} x {site}")
    print(f"ratio: {totals['UCLAF'] / max(totals['baseline'], 1):.2f}")


if __name__ == "__main__":
    main()
