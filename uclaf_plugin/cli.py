"""``uclaf-bench``: run UCLAF beside the classic baselines, compare, ablate, sweep, predict, report, plot.

The commands only parse, call :mod:`uclaf_plugin.bench` and print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .cli_options import (
    METHOD_SETTINGS,
    DataDir,
    Dataset,
    Device,
    Epochs,
    EvalSplit,
    Format,
    LimitTrain,
    Quiet,
    Root,
    Seed,
    Seeds,
    TrainSplit,
    console,
    friendly_errors,
    out,
    run_settings,
)
from .cli_subcommands import data_app, plot_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])
app.add_typer(data_app, name="data")
app.add_typer(plot_app, name="plot")


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {text!r}") from None


def _names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _common(
    train_split: str, eval_split: str, limit_train: int | None, format: str | None, settings: dict
) -> dict:
    """The settings that every run of a multi-run command shares."""
    return dict(
        train_split=train_split,
        eval_split=eval_split,
        limit_train=limit_train,
        format=format,
        overrides=settings,
    )


def _show_experiment(experiment, *args, root, device, data_dir, quiet) -> None:
    """Run ``experiment`` (compare, ablate or sweep), print its table and where the files went."""
    table, files = experiment(
        *args, root=root, device=device, data_dir=data_dir, quiet=quiet, announce=console.print
    )
    out.print(table)
    console.print(f"written: {', '.join(map(str, files))}")


@app.command()
@friendly_errors
@run_settings()
def run(
    dataset: Dataset,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            help="linear, xmlcnn, attentionxml, bert, bert-std, bert-std-prior, bert-lan, bert-cacl, uclaf, uclaf-prior, uclaf-std-proposal, ...",
        ),
    ],
    settings: dict,
    seed: Seed = 0,
    device: Device = "auto",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Run folder (default: runs/<dataset>/<method>/...).")
    ] = None,
    train_split: TrainSplit = "train",
    eval_split: EvalSplit = "test",
    limit_train: LimitTrain = None,
    format: Format = None,
    nproc: Annotated[
        int, typer.Option(help="Worker processes (torch.distributed: gloo on CPU, NCCL on GPU).")
    ] = 1,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run in --output.")] = False,
    data_dir: DataDir = None,
    quiet: Quiet = False,
):
    """Train one method on one dataset and report its test metrics.

    Example: uclaf-bench run --dataset aapd --method uclaf --train-split val --eval-split test
    """
    from .bench import commands

    metrics, folder = commands.run(
        dataset,
        method,
        seed=seed,
        train_split=train_split,
        eval_split=eval_split,
        limit_train=limit_train,
        format=format,
        overrides=settings,
        output=output,
        resume=resume,
        nproc=nproc,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
    )
    out.print(commands.metrics_table(metrics, title=f"{method} on {dataset} (test)"))
    console.print(f"run folder: {folder}")


@app.command()
@friendly_errors
@run_settings(exclude=METHOD_SETTINGS)
def compare(
    dataset: Dataset,
    settings: dict,
    methods: Annotated[str, typer.Option(help="Comma-separated methods.")] = "linear,bert,uclaf",
    seeds: Seeds = "0",
    train_split: TrainSplit = "train",
    eval_split: EvalSplit = "test",
    limit_train: LimitTrain = None,
    format: Format = None,
    root: Root = Path("runs"),
    device: Device = "auto",
    data_dir: DataDir = None,
    quiet: Quiet = False,
):
    """Run several methods (reusing finished runs) and show them side by side; writes markdown and CSV.

    Example: uclaf-bench compare --dataset reuters --methods linear,xmlcnn,bert,uclaf --seeds 0,1,2
    """
    from .bench import commands

    _show_experiment(
        commands.compare,
        dataset,
        _names(methods),
        _seeds(seeds),
        _common(train_split, eval_split, limit_train, format, settings),
        root=root,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
    )


@app.command()
@friendly_errors
@run_settings(exclude=(*METHOD_SETTINGS, "positives", "augment"))
def ablate(
    dataset: Dataset,
    settings: dict,
    positives: Annotated[str | None, typer.Option(help="Table 5: e.g. all,any,per_label,jaccard.")] = None,
    augment: Annotated[
        str | None, typer.Option(help="Table 6: e.g. dropout,random_mask,span_mask,shuffle.")
    ] = None,
    seeds: Seeds = "0",
    train_split: TrainSplit = "train",
    eval_split: EvalSplit = "test",
    limit_train: LimitTrain = None,
    format: Format = None,
    root: Root = Path("runs"),
    device: Device = "auto",
    data_dir: DataDir = None,
    quiet: Quiet = False,
):
    """Reproduce the paper's ablations: components (Table 4), positive sets (Table 5), augmentations (Table 6).

    Example: uclaf-bench ablate --dataset aapd --train-split val --positives all,any,per_label,jaccard
    """
    from .bench import commands

    _show_experiment(
        commands.ablate,
        dataset,
        _names(positives),
        _names(augment),
        _seeds(seeds),
        _common(train_split, eval_split, limit_train, format, settings),
        root=root,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
    )


@app.command()
@friendly_errors
@run_settings(exclude=METHOD_SETTINGS)
def sweep(
    dataset: Dataset,
    param: Annotated[str, typer.Option(help="lambda or temperature.")],
    values: Annotated[str, typer.Option(help="Comma-separated values, e.g. 0.1,0.3,0.5,0.7,0.9.")],
    settings: dict,
    method: Annotated[str, typer.Option(help="Method to sweep.")] = "uclaf",
    seeds: Seeds = "0",
    train_split: TrainSplit = "train",
    eval_split: EvalSplit = "test",
    limit_train: LimitTrain = None,
    format: Format = None,
    root: Root = Path("runs"),
    device: Device = "auto",
    data_dir: DataDir = None,
    quiet: Quiet = False,
):
    """Sweep λ or τ: a table and a line plot (the paper's Figure 5).

    Example: uclaf-bench sweep --dataset aapd --train-split val --param temperature --values 0.05,0.1,0.5,1,5
    """
    from .bench import commands

    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--values must be comma-separated numbers, got {values!r}") from None
    _show_experiment(
        commands.sweep,
        dataset,
        param,
        numbers,
        method,
        _seeds(seeds),
        _common(train_split, eval_split, limit_train, format, settings),
        root=root,
        device=device,
        data_dir=data_dir,
        quiet=quiet,
    )


@app.command()
@friendly_errors
def predict(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder.")] = ...,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help='docs.jsonl (a "text" field per line) or docs.txt (one text per line).'),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Stream --input into this JSON Lines file (any size, in batches)."
        ),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Scores to show per text.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Documents per forward pass (with --output).")] = 64,
    window: Annotated[
        int, typer.Option(help="Documents read and sorted by length at a time (with --output).")
    ] = 1024,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per text (JSON Lines).")
    ] = False,
    quiet: Quiet = False,
):
    """Label sets (the run's tuned thresholds) and top-k scores for new texts.

    Example: uclaf-bench predict --run runs/demo/uclaf --input docs.txt --output preds.jsonl
    """
    from .bench import commands, finished_runs

    if top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {top_k}")
    if output is not None:
        if input_file is None or texts:
            raise ValueError("--output streams --input FILE; give --input and no text arguments")
        if batch_size < 1 or window < 1:
            raise ValueError(f"--batch-size and --window must be at least 1, got {batch_size} and {window}")
        written = finished_runs.predict_file(run_dir, input_file, output, top_k, batch_size, window, quiet)
        console.print(f"wrote {written} predictions to {output}")
        return
    texts = list(texts or [])
    if input_file is not None:
        if not input_file.is_file():
            raise FileNotFoundError(f"--input {input_file} does not exist")
        texts += [line.rstrip("\n") for line in input_file.open() if line.strip()]
    if not texts:
        raise ValueError("give texts as arguments or --input FILE")
    predictions = finished_runs.predict(run_dir, texts, top_k)
    if as_json:
        for text, record in zip(texts, predictions, strict=True):
            typer.echo(json.dumps({"text": text, **record}))
    else:
        out.print(commands.predictions_table(texts, predictions))


@app.command()
@friendly_errors
def thresholds(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished run folder.")],
    objective: Annotated[
        str, typer.Option(help="micro-F1 or macro-F1: what the thresholds maximise.")
    ] = "micro-F1",
    at_least_one: Annotated[
        bool, typer.Option("--at-least-one", help="Give every document at least its best label.")
    ] = False,
    kind: Annotated[
        str, typer.Option(help="per_label or global: the thresholds predict applies.")
    ] = "per_label",
    data_dir: DataDir = None,
):
    """Tune a finished run's decision thresholds again on its validation split (runs tune micro-F1 by default).

    Example: uclaf-bench thresholds --run runs/demo/uclaf --objective macro-F1 --at-least-one
    """
    from .bench import finished_runs

    report = finished_runs.retune(run_dir, objective, at_least_one, kind, data_dir)
    for name in ("fixed", "global", "per_label"):
        f1 = report[name]
        out.print(
            f"{name:>9}: micro-F1 {100 * f1['micro-F1']:.2f}  macro-F1 {100 * f1['macro-F1']:.2f} (test)"
        )
    console.print(f"wrote {run_dir / 'thresholds.json'}")


@app.command()
@friendly_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the two run folders.")] = Path(
        "runs/demo"
    ),
    limit_train: Annotated[int | None, typer.Option(help="Train on N comments only (a quick try).")] = None,
    epochs: Epochs = None,
    device: Device = "auto",
    quiet: Quiet = False,
):
    """Train UCLAF and the linear baseline on the embedded GoEmotions sample; show metrics and three predictions.

    Example: uclaf-bench demo --output runs/demo
    """
    from .bench.demo import run_demo

    metrics, examples = run_demo(
        output, device=device, quiet=quiet, announce=console.print, limit_train=limit_train, epochs=epochs
    )
    out.print(metrics)
    out.print(examples)
    console.print(f"run folders: {output / 'uclaf'} and {output / 'linear'}")


@app.command()
@friendly_errors
def export(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished neural run folder.")],
    export_format: Annotated[str, typer.Option("--format", help="onnx (the only format so far).")] = "onnx",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Export folder (default: RUN/onnx).")
    ] = None,
):
    """Write the inference path (tokenizer, encoder, head, thresholds, labels) for ONNX Runtime.

    Example: uclaf-bench export --run runs/demo/uclaf --format onnx
    """
    if export_format != "onnx":
        raise ValueError(f"--format must be onnx, got {export_format!r}")
    from .export import export_onnx

    folder = export_onnx(run_dir, output)
    console.print(f"wrote {folder}; serve it with: python {folder / 'serve.py'} --input docs.txt")


@app.command()
@friendly_errors
def report(
    runs: Annotated[
        Path, typer.Option("--runs", help="Folder searched for finished runs, or a records file (.jsonl).")
    ] = Path("runs"),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the markdown here too.")
    ] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write one CSV row per run here.")] = None,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records", help="Add the record of each run under --runs to this .jsonl records file."
        ),
    ] = None,
):
    """A markdown table of every run under --runs (a run folder tree or a records file).

    Example: uclaf-bench report --runs runs/aapd --records docs/results/records/aapd.jsonl
    Example: uclaf-bench report --runs docs/results/records/aapd.jsonl --csv docs/results/aapd.csv
    """
    from .bench import commands

    if records is not None:
        from .bench.records import merge_records

        merge_records(runs, records)
    markdown = commands.report(runs, csv)
    if output is not None:
        from .files import atomic_write

        atomic_write(output, lambda temp: Path(temp).write_text(markdown))
    typer.echo(markdown)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
