"""``load_dataset`` and the ``DATASETS`` registry (name -> loader)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from .aapd import load_aapd
from .base import MultiLabelDataset
from .embedded import load_goemotions_sample
from .eurlex import load_eurlex
from .eurlex57k import load_eurlex57k
from .generic import load_generic
from .goemotions import load_goemotions
from .paths import data_root
from .reuters import load_reuters
from .synthetic import make_synthetic

COMMON_PARAMETERS = {"data_dir", "path", "seed", "val_fraction", "strict"}


def _load_synthetic(data_dir: Path, *, seed: int, val_fraction: float, strict: bool, **options):
    """Synthetic: seeded corpus with correlated label groups, no files needed (see `make_synthetic`)."""
    return make_synthetic(seed=seed, val_fraction=val_fraction, **options)


DATASETS: dict[str, Callable[..., MultiLabelDataset]] = {
    "aapd": load_aapd,
    "eurlex": load_eurlex,
    "eurlex57k": load_eurlex57k,
    "goemotions": load_goemotions,
    "goemotions-sample": load_goemotions_sample,
    "reuters": load_reuters,
    "synthetic": _load_synthetic,
}


def load_dataset(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    strict: bool = True,
    **options,
) -> MultiLabelDataset:
    """Load a registered dataset by name, or a folder/file in a generic format.

    ``data_dir``: where the named datasets live (else ``$UCLAF_DATA``, else ``~/.cache/uclaf``).
    ``seed`` and ``val_fraction`` carve val from train where a dataset has no val split.
    ``strict=False`` skips malformed lines and counts them instead of raising ValueError.
    ``options`` go to the loader: ``format``/``test_fraction`` for files; `SyntheticSpec` fields,
    ``difficulty`` and ``test_fraction`` for ``synthetic``; ``zones`` and ``cache`` for ``eurlex57k``.
    """
    name = os.fspath(name_or_path)
    common = {"seed": seed, "val_fraction": val_fraction, "strict": strict}
    if name in DATASETS:
        if name != "synthetic":
            _check_options(name, DATASETS[name], options)
        return DATASETS[name](data_root(data_dir), **common, **options)
    if Path(name).expanduser().exists():
        _check_options(name, load_generic, options)
        return load_generic(name, **common, **options)
    raise ValueError(
        f"unknown dataset {name!r}: use one of {sorted(DATASETS)} or the path of an existing file or folder"
    )


def _check_options(name: str, loader: Callable, options: dict) -> None:
    accepted = set(inspect.signature(loader).parameters) - COMMON_PARAMETERS
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(
            f"{name} does not take the options {sorted(unknown)}; it takes {sorted(accepted) or 'none'}"
        )
