"""What each ``uclaf-bench`` command does, apart from parsing and printing."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..files import atomic_write
from .experiments import ablation_specs, compare_specs, run_specs, sweep_specs
from .reported import TABLE_FOR_ABLATION, reported_rows
from .run_folder import RunFolder
from .runner import execute, fingerprinted
from .spec import RunSpec, build_spec, override_options, spec_differences
from .store import collect_runs, dataset_slug, default_run_dir
from .tables import METRIC_COLUMNS, aggregate, rich_table, run_row, to_csv, to_markdown

TIMING_COLUMNS = ["train_seconds", "docs_per_second"]


class RunInterrupted(RuntimeError):
    """Training stopped on Ctrl-C or SIGTERM after writing a checkpoint.

    ``checkpoint``: the file written (``None`` when the process stopped before it had one); ``resume_command``:
    the ``uclaf-bench`` line that goes on from it.
    """

    def __init__(self, checkpoint: Path | None, resume_command: str):
        super().__init__(f"interrupted; checkpoint {checkpoint}; resume with: {resume_command}")
        self.checkpoint, self.resume_command = checkpoint, resume_command


def run(
    dataset,
    method,
    *,
    seed,
    train_split,
    eval_split,
    limit_train,
    overrides,
    output,
    resume,
    nproc,
    device,
    data_dir,
    quiet,
    format=None,
) -> tuple[dict, Path]:
    """Train (or resume) one run; returns its metrics and folder."""
    from ..train import TrainingInterrupted
    from ..train.distributed import init_from_environment, launch

    spec = build_spec(
        dataset,
        method,
        seed=seed,
        train_split=train_split,
        eval_split=eval_split,
        limit_train=limit_train,
        overrides=overrides,
        format=format,
    )
    spec = _fingerprinted_if_readable(spec, data_dir)
    folder = Path(output) if output is not None else default_run_dir(spec)
    run_folder = RunFolder(folder)
    _check_run_folder(run_folder, spec, resume)
    if run_folder.is_finished and not resume:
        return run_folder.metrics(), folder
    init_from_environment(device)
    try:
        launch(nproc, _execute, spec.to_dict(), str(folder), data_dir, device, quiet, resume, device=device)
    except TrainingInterrupted:
        resume = f"{_shell_command(spec)} --output {shlex.quote(str(folder))} --resume"
        raise RunInterrupted(run_folder.checkpoint_file, resume) from None
    return run_folder.metrics(), folder


def _fingerprinted_if_readable(spec: RunSpec, data_dir) -> RunSpec:
    """``spec`` with its data fingerprint; unchanged when a split file is missing, so a finished run is still
    found by its settings, and training stops with the missing file's message."""
    try:
        return fingerprinted(spec, data_dir)
    except FileNotFoundError:
        return spec


def _shell_command(spec: RunSpec) -> str:
    """``spec.command()`` with a dataset path quoted for the shell."""
    return spec.command().replace(f"--dataset {spec.dataset}", f"--dataset {shlex.quote(spec.dataset)}", 1)


def _execute(spec: dict, folder: str, data_dir, device, quiet, resume) -> None:
    spec = RunSpec.from_dict(spec)
    execute(
        spec, folder, data_dir=data_dir, device=device, quiet=quiet, resume=resume, command=spec.command()
    )


def _check_run_folder(folder: RunFolder, spec: RunSpec, resume: bool) -> None:
    """Refuse a folder that holds another run: resume only the same settings on the same data."""
    if resume and not folder.is_interrupted:
        raise FileNotFoundError(
            f"nothing to resume: {folder.checkpoint_file} does not exist; run without --resume"
        )
    if folder.is_interrupted and not resume:
        raise ValueError(
            f"{folder.path} holds an interrupted run; add --resume to continue it, or pick another --output"
        )
    if resume:
        _check_same_run(folder, spec, "cannot resume: {folder}'s interrupted run")
    elif folder.is_finished:
        _check_same_run(folder, spec, "{folder} holds a finished run that")


def _check_same_run(folder: RunFolder, spec: RunSpec, subject: str) -> None:
    """ValueError when the run in ``folder`` (its ``config.json``) had other settings or read other data."""
    config = folder.config()
    differences = spec_differences(config.get("spec") or {}, spec)
    if not differences:
        return
    subject = subject.format(folder=folder.path)
    if differences[0] == "data":
        raise ValueError(
            f"{subject} read other data: the files of {spec.dataset} changed since (a fingerprint of what was "
            "read differs); pick another --output to train on the data as it is now"
        )
    raise ValueError(
        f"{subject} had other settings ({', '.join(differences)} differ; it was: {config.get('command')}); "
        "repeat its settings, or pick another --output"
    )


def _runner(data_dir, device, quiet, announce):
    """``execute_one(spec, folder)`` for :func:`run_specs`: resumes an interrupted run in ``folder``, says so."""

    def execute_one(spec: RunSpec, folder: Path) -> None:
        run_folder = RunFolder(folder)
        resume = run_folder.is_interrupted
        if resume:
            _check_same_run(run_folder, spec, "cannot resume: {folder}'s interrupted run")
            announce(f"    resuming the interrupted run from {run_folder.checkpoint_file}")
        execute(
            spec, folder, data_dir=data_dir, device=device, quiet=quiet, resume=resume, command=spec.command()
        )

    return execute_one


def _with_seeds(make_specs, seeds: list[int]) -> list[tuple[str, RunSpec]]:
    return [pair for seed in seeds for pair in make_specs(seed)]


def _table_files(
    root: Path, dataset: str, name: str, rows: list[dict], entries: list[dict], columns, first: str
):
    folder = Path(root) / dataset_slug(dataset)
    markdown = to_markdown(entries, columns, first=first)
    md_path = atomic_write(folder / f"{name}.md", lambda temp: Path(temp).write_text(markdown))
    csv_text = to_csv(rows)
    csv_path = atomic_write(folder / f"{name}.csv", lambda temp: Path(temp).write_text(csv_text))
    return md_path, csv_path


def _experiment(
    labelled, name, dataset, title, *, root, device, data_dir, quiet, announce, command, extra_entries=()
):
    """Run (reuse, resume) the labelled specs on the data as it is now; on Ctrl-C, say how to go on."""
    from ..train import TrainingInterrupted

    labelled = [(label, _fingerprinted_if_readable(spec, data_dir)) for label, spec in labelled]
    try:
        results = run_specs(labelled, _runner(data_dir, device, quiet, announce), root, announce=announce)
    except TrainingInterrupted as stop:
        resume = f"{command} (resumes the interrupted run and reuses the finished ones)"
        raise RunInterrupted(stop.checkpoint, resume) from None
    rows = [run_row(run, label) for label, run in results]
    entries = [*extra_entries, *aggregate(rows)]
    columns = [*METRIC_COLUMNS, *TIMING_COLUMNS]
    files = _table_files(root, dataset, name, rows, entries, columns, first="method")
    return rich_table(entries, columns, title=title), files, entries


def _experiment_command(name, dataset, options, seeds, common, root, data_dir) -> str:
    """The ``uclaf-bench`` line of a multi-run command (what to type again after Ctrl-C)."""
    parts = ["uclaf-bench", name, f"--dataset {shlex.quote(str(dataset))}", *options]
    parts.append(f"--seeds {','.join(map(str, seeds))}")
    if common.get("train_split", "train") != "train" or common.get("eval_split", "test") != "test":
        parts += [f"--train-split {common['train_split']}", f"--eval-split {common['eval_split']}"]
    if common.get("limit_train") is not None:
        parts.append(f"--limit-train {common['limit_train']}")
    if common.get("format") is not None:
        parts.append(f"--format {common['format']}")
    parts += override_options(common.get("overrides") or {})
    parts.append(f"--root {shlex.quote(str(root))}")
    if data_dir is not None:
        parts.append(f"--data-dir {shlex.quote(str(data_dir))}")
    return " ".join(parts)


def compare(dataset, methods, seeds, common, *, root, device, data_dir, quiet, announce):
    labelled = _with_seeds(lambda seed: compare_specs(dataset, methods, seed=seed, **common), seeds)
    # One table file per method list, so one compare does not overwrite another.
    table, files, _ = _experiment(
        labelled,
        "compare-" + "-".join(methods),
        dataset,
        f"{dataset}: test metrics (%)",
        root=root,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
        announce=announce,
        command=_experiment_command(
            "compare", dataset, [f"--methods {','.join(methods)}"], seeds, common, root, data_dir
        ),
        extra_entries=reported_rows(dataset),
    )
    return table, files


def ablate(dataset, positives, augments, seeds, common, *, root, device, data_dir, quiet, announce):
    kind = "positives" if positives else "augment" if augments else "components"
    name = f"ablation-{kind}"
    labelled = _with_seeds(
        lambda seed: ablation_specs(dataset, positives, augments, seed=seed, **dict(common)), seeds
    )
    chosen = [f"--positives {','.join(positives)}"] if positives else []
    chosen += [f"--augment {','.join(augments)}"] if augments else []
    table, files, _ = _experiment(
        labelled,
        name,
        dataset,
        f"{dataset}: {name} (%)",
        root=root,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
        announce=announce,
        command=_experiment_command("ablate", dataset, chosen, seeds, common, root, data_dir),
        extra_entries=reported_rows(dataset, TABLE_FOR_ABLATION[kind]),
    )
    return table, files


def sweep(dataset, param, values, method, seeds, common, *, root, device, data_dir, quiet, announce):
    from .plots import sweep_figure

    labelled = _with_seeds(
        lambda seed: sweep_specs(dataset, param, values, method, seed=seed, **dict(common)), seeds
    )
    name = f"sweep-{param}"
    table, files, entries = _experiment(
        labelled,
        name,
        dataset,
        f"{dataset}: {method} sweep over {param} (%)",
        root=root,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
        announce=announce,
        command=_experiment_command(
            "sweep",
            dataset,
            [f"--param {param}", f"--values {','.join(f'{v:g}' for v in values)}", f"--method {method}"],
            seeds,
            common,
            root,
            data_dir,
        ),
    )
    png = sweep_figure(entries, values, param, Path(root) / dataset_slug(dataset) / f"{name}.png")
    return table, (*files, png)


VARIANT_SETTINGS = (
    "encoder",
    "head",
    "contrastive",
    "positives",
    "augment",
    "lambda_",
    "temperature",
    "queue_size",
    "key_precision",
    "group_by_length",
    "amp",
)


def run_label(run: dict) -> str:
    """The method, plus the settings that make this run a variant of it (e.g. ``uclaf [positives=any]``)."""
    spec = run["spec"]
    variant = [f"{k.rstrip('_')}={v}" for k, v in spec.get("overrides", {}).items() if k in VARIANT_SETTINGS]
    return f"{spec.get('method')} [{', '.join(variant)}]" if variant else str(spec.get("method"))


def report(root: Path, csv_path: Path | None = None) -> str:
    """Markdown: one table per dataset, one row per run; ``csv_path`` also gets one CSV row per run."""
    runs = collect_runs(root)
    if not runs:
        return f"No finished runs under {root}.\n"
    if csv_path is not None:
        text = to_csv([{**run_row(run, run_label(run))} for run in runs])
        atomic_write(csv_path, lambda temp: Path(temp).write_text(text))
    by_dataset: dict[str, list[dict]] = {}
    for run in runs:
        by_dataset.setdefault(run["spec"].get("dataset", "?"), []).append(run)
    sections = []
    for dataset, members in by_dataset.items():
        entries = [
            {**run_row(run), "runs": 1, "method": f"{run_label(run)} (seed {run['spec'].get('seed')})"}
            for run in members
        ]
        sections.append(f"## {dataset}\n\n" + to_markdown(entries, [*METRIC_COLUMNS, *TIMING_COLUMNS]))
    return "\n".join(sections)


def metrics_table(metrics: dict, title: str):
    from rich.table import Table

    test = metrics["test"]
    groups = [group for group in ("frequent", "few", "zero") if f"{group}/n_docs" in test]
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("all labels" if groups else "value", justify="right")
    for group in groups:
        table.add_column(group, justify="right")
    for name in test:
        if "/" not in name:
            cells = [test.get(name if not group else f"{group}/{name}") for group in ["", *groups]]
            table.add_row(name, *("–" if v is None else _metric_cell(v) for v in cells))
    for name in ("train_seconds", "docs_per_second", "peak_memory_mb", "device"):
        if metrics.get(name) is not None:
            table.add_row(name, str(metrics[name]))
    return table


def _metric_cell(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, float) else str(value)


def predictions_table(texts: list[str], predictions: list[dict]):
    from rich.table import Table

    table = Table()
    table.add_column("text", max_width=60)
    table.add_column("label set")
    table.add_column("top scores")
    for text, record in zip(texts, predictions, strict=True):
        scores = ", ".join(f"{label} ({score:.3f})" for label, score in record["scores"].items())
        table.add_row(text, ", ".join(record["labels"]) or "-", scores)
    return table


def dataset_list_table():
    from rich.table import Table

    from ..data import DATASETS

    table = Table(title="datasets")
    table.add_column("name")
    table.add_column("about")
    for name, loader in DATASETS.items():
        table.add_row(name, (loader.__doc__ or "").strip().split("\n")[0])
    return table


def dataset_stats_table(name: str, data_dir, format: str | None = None):
    from rich.table import Table

    from ..data import load_dataset

    stats = load_dataset(name, data_dir=data_dir, **({"format": format} if format else {})).stats()
    table = Table(title=f"{name}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        if isinstance(value, (int, float, str)):
            table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
        elif isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
            shown = sorted(value.items(), key=lambda kv: -kv[1])[:10]
            table.add_row(key, ", ".join(f"{k}: {v:g}" for k, v in shown) + (" …" if len(value) > 10 else ""))
    return table
