"""Where datasets live: the data directory and a dataset's folder inside it."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "UCLAF_DATA"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$UCLAF_DATA``, else ``~/.cache/uclaf``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path.home() / ".cache" / "uclaf"


def dataset_folder(data_dir: Path, name: str, folders: tuple[str, ...]) -> Path:
    """The first of ``folders`` that exists in ``data_dir``; FileNotFoundError saying what to do if none."""
    for folder in folders:
        if (data_dir / folder).is_dir():
            return data_dir / folder
    raise FileNotFoundError(
        f"{name}: no folder {' or '.join(repr(f) for f in folders)} in the data directory {data_dir}. "
        f"Pass data_dir= or set {DATA_ENV} to the folder that holds it, "
        f"or run `uclaf-bench data fetch {name}`."
    )
