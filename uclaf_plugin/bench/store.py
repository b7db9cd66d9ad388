"""Where runs live, and reading finished ones back (``compare`` reuses a finished run with the same spec)."""

from __future__ import annotations

from pathlib import Path

from ..data import DATASETS
from .run_folder import METRICS_FILE, RunFolder
from .spec import RunSpec, experiment_identity

DEFAULT_ROOT = Path("runs")


def dataset_slug(dataset: str) -> str:
    """A folder name for a dataset name or path."""
    return Path(dataset).stem if ("/" in dataset or "." in dataset) else dataset


def default_run_dir(spec: RunSpec, root: str | Path = DEFAULT_ROOT) -> Path:
    return Path(root) / dataset_slug(spec.dataset) / spec.method / f"seed{spec.seed}-{spec.key()}"


def finished_run(spec: RunSpec, root: str | Path = DEFAULT_ROOT) -> Path | None:
    """The folder of a finished run of the same experiment as ``spec`` under ``root``, if there is one.

    The same experiment means the same resolved settings, however the overrides were written (a run recorded
    with ``--max-length 128``, where 128 is the default, is the run without it) and whatever the spec's version
    (a version-1 spec is read with the values its run had for later settings, :func:`~.spec.upgraded`); and the
    same data: a ``spec`` with a data fingerprint matches runs that read data with the same fingerprint, or, for a
    registered dataset, runs recorded before fingerprints existed whose train/val/test sizes and label count match
    (or that record no sizes).
    """
    folder = default_run_dir(spec, root)
    wanted = _experiment(spec.to_dict())
    for path in sorted(folder.parent.glob(f"seed{spec.seed}-*"), key=lambda path: path != folder):
        candidate = RunFolder(path)
        if not candidate.is_finished:
            continue
        saved = candidate.spec()
        if _experiment(saved) == wanted and _same_data(saved, spec, candidate):
            return path
    return None


def _experiment(spec: dict) -> dict:
    """:func:`~.spec.experiment_identity` less the data fingerprint, which :func:`_same_data` compares."""
    return {name: value for name, value in experiment_identity(spec).items() if name != "data"}


def _same_data(saved: dict, spec: RunSpec, folder: RunFolder) -> bool:
    if spec.data is None or saved.get("data") == spec.data:
        return True
    if saved.get("data") is not None or spec.dataset not in DATASETS:
        return False
    recorded = folder.metrics().get("data")
    if recorded is None:  # a record written by hand, without the sizes a run writes: nothing to check
        return True
    sizes = {name: value for name, value in spec.data.items() if name != "sha256"}
    return all(recorded.get(name) == value for name, value in sizes.items())


def load_run(folder: str | Path) -> dict:
    """``{"folder", "spec", "command", "metrics"}`` of a finished run folder."""
    run = RunFolder(folder)
    config = run.config()
    return {
        "folder": str(run.path),
        "spec": config.get("spec", {}),
        "command": config.get("command"),
        "metrics": run.metrics(),
    }


def collect_runs(root: str | Path) -> list[dict]:
    """Every finished run below the folder ``root``, in a stable order; or every record of a ``.jsonl`` records file."""
    root = Path(root)
    if root.suffix == ".jsonl":
        from .records import read_records

        return read_records(root)
    if not root.exists():
        raise FileNotFoundError(
            f"{root} does not exist; pass the folder that holds your run folders (default: runs/)"
        )
    return [load_run(path.parent) for path in sorted(root.rglob(METRICS_FILE))]
