"""Run records: one compact JSON line per finished run, one file per dataset (``docs/results/records/<dataset>.jsonl``).

A run folder holds the weights and the per-epoch ``train_log.jsonl``; these stay on the machine that ran it. What git
keeps of a run is its record: the run folder's name (``<dataset>/<method>/seed<N>-<hash>``, whose hash is the spec's
key), the spec and the command that reproduce it, the number of labels, and ``metrics.json`` whole (test metrics,
validation curve, wall time, docs/s, peak memory, device, versions, git commit). A record reads back as
:func:`~uclaf_plugin.bench.store.load_run` reads a run folder, so ``report``, the tables and the plots take either.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import atomic_write
from .run_folder import METRICS_FILE, RunFolder

RECORD_FIELDS = ("folder", "spec", "command", "labels", "metrics")


def run_record(folder: str | Path, root: str | Path) -> dict:
    """The record of the finished run ``folder``; its ``folder`` field is the path relative to ``root``.

    Raises ``FileNotFoundError`` naming the file when the folder lacks ``config.json`` or ``metrics.json``.
    """
    run = RunFolder(folder)
    config, metrics = run.config(), run.metrics()
    return {
        "folder": run.path.relative_to(root).as_posix(),
        "spec": config.get("spec", {}),
        "command": config.get("command"),
        "labels": run.label_count(),
        "metrics": metrics,
    }


def read_records(path: str | Path) -> list[dict]:
    """Every record of a ``.jsonl`` records file, in file order; a bad line raises ``ValueError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; pass a records file such as docs/results/records/aapd.jsonl"
        )
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}:{number}: not a JSON line ({error.msg}); restore the file from git"
            ) from None
        missing = [name for name in RECORD_FIELDS if name not in record]
        if missing:
            raise ValueError(f"{path}:{number}: record lacks {', '.join(missing)}; restore the file from git")
        records.append(record)
    return records


def merge_records(root: str | Path, records_file: str | Path) -> list[dict]:
    """Add (or refresh) the record of every finished run below ``root`` in ``records_file``; returns all records.

    ``root`` is a dataset's run folder (``runs/aapd``); records already in the file whose run is not under ``root``
    are kept, so collecting on a machine that holds only some of the runs loses none. Written atomically, sorted
    by folder.
    """
    root, records_file = Path(root), Path(records_file)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist; pass the folder that holds a dataset's run folders")
    merged = {
        record["folder"]: record for record in (read_records(records_file) if records_file.exists() else [])
    }
    for metrics in root.rglob(METRICS_FILE):
        record = run_record(metrics.parent, root.parent)
        merged[record["folder"]] = record
    ordered = [merged[name] for name in sorted(merged, key=lambda name: Path(name).parts)]
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in ordered)
    atomic_write(records_file, lambda temp: Path(temp).write_text(text))
    return ordered
