"""Count the operations that make the host wait for the device, on any device, CPU included.

On a GPU, every value the Python side reads from a tensor (``bool(t)``, ``float(t)``, ``t.item()``) and every
operation whose output size depends on tensor values (``nonzero``, boolean-mask indexing, ``unique``) stops the
host until the device has caught up, so the kernel queue runs dry. The CUDA profiler shows these as
``cudaStreamSynchronize`` (``benchmarks/step_profile.py``); this module finds the same operations from the
dispatcher, so a CPU-only machine can count them, and tests can bound them, with the line of code that asked.

Not visible here: ``Tensor.tolist()`` and explicit copies to the CPU (``.cpu()``), which bypass the dispatcher or
look like any other copy on a CPU-only run.
"""

from __future__ import annotations

import traceback
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Operators whose result the host must wait for: a scalar read, or an output shape that depends on values.
VALUE_DEPENDENT_OPS = frozenset(
    {
        "aten::_local_scalar_dense",  # bool(t), int(t), float(t), t.item()
        "aten::is_nonzero",
        "aten::equal",
        "aten::nonzero",
        "aten::masked_select",
        "aten::_unique2",
        "aten::unique_dim",
        "aten::unique_consecutive",
        "aten::repeat_interleave",
    }
)
BOOLEAN_MASK_OPS = frozenset({"aten::index", "aten::index_put_", "aten::index_put"})


def _is_boolean_mask_index(name: str, args: tuple) -> bool:
    if name not in BOOLEAN_MASK_OPS or len(args) < 2:
        return False
    return any(torch.is_tensor(index) and index.dtype == torch.bool for index in args[1] if index is not None)


class HostSyncCounter(TorchDispatchMode):
    """Context manager counting host synchronisations by operator and by the line of code that asked.

    ``counts``: operator name -> number of calls. ``sites``: ``"file:line"`` (the innermost frame in one of
    ``packages``) -> number of calls; sites outside them are counted in ``counts`` only.
    ``total``: all calls. Example::

        with HostSyncCounter() as syncs:
            model(input_ids, mask, labels=labels).loss.backward()
        print(syncs.total, syncs.sites.most_common(5))
    """

    def __init__(
        self, packages: tuple[str, ...] = ("uclaf_plugin", "transformers", "pytorch_metric_learning")
    ):
        super().__init__()
        self.packages = packages
        self.counts: Counter[str] = Counter()
        self.sites: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in VALUE_DEPENDENT_OPS or _is_boolean_mask_index(name, args):
            self.counts[name] += 1
            site = self._site()
            if site is not None:
                self.sites[site] += 1
        return func(*args, **(kwargs or {}))

    def _site(self) -> str | None:
        for frame in reversed(traceback.extract_stack()[:-3]):
            parts = Path(frame.filename).parts
            for package in self.packages:
                if package in parts:
                    return f"{'/'.join(parts[parts.index(package) :])}:{frame.lineno}"
        return None


__all__ = ["BOOLEAN_MASK_OPS", "VALUE_DEPENDENT_OPS", "HostSyncCounter"]
