"""The options of ``uclaf-bench``, declared once: their types and help texts, and every run setting
(:data:`RUN_SETTINGS`) that :func:`run_settings` gives to ``run``, ``compare``, ``ablate`` and ``sweep``; and the
plumbing every command shares: the two consoles and :func:`friendly_errors`."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

Dataset = Annotated[
    str,
    typer.Option("--dataset", "-d", help="Registered name (uclaf-bench data list) or a data file/folder."),
]
Epochs = Annotated[int | None, typer.Option(help="Training epochs.")]
BatchSize = Annotated[int | None, typer.Option(help="Documents per step.")]
MaxLength = Annotated[int | None, typer.Option(help="Tokens kept per document.")]
Lr = Annotated[
    float | None,
    typer.Option(
        help="Learning rate of the encoder. compare, ablate and sweep apply it to the pretrained transformer only:"
        " XML-CNN and AttentionXML keep their own."
    ),
]
Lambda = Annotated[float | None, typer.Option("--lambda", help="Weight λ of the contrastive term.")]
Temperature = Annotated[float | None, typer.Option(help="Temperature τ of CACL.")]
Positives = Annotated[str | None, typer.Option(help="per_label, any, all or jaccard.")]
Augment = Annotated[str | None, typer.Option(help="Key view: dropout, random_mask, span_mask or shuffle.")]
QueueSize = Annotated[int | None, typer.Option(help="Keys kept in the memory queue.")]
Encoder = Annotated[
    str | None, typer.Option(help="minilm, xmlcnn, attentionxml or a Hugging Face model folder.")
]
Head = Annotated[str | None, typer.Option(help="lan, linear, dot or xmlcnn.")]
Contrastive = Annotated[str | None, typer.Option(help="none, per_label, any, all or jaccard.")]
LabelInit = Annotated[
    str | None,
    typer.Option(help="names: start LAN's label vectors from the encoder's embedding of each label's name."),
]
KeyPrecision = Annotated[
    str | None,
    typer.Option(
        help="auto (default), fp32 or bf16: bf16 autocast for the momentum key branch, faster on CPUs with native"
        " bf16; auto picks bf16 on such CPUs and fp32 elsewhere (CUDA included)."
    ),
]
LanScoring = Annotated[
    str | None,
    typer.Option(
        help="LAN's attention score: multiplicative (default; label ⊙ token inside tanh), paper (eq. 2 exactly;"
        " runs recorded before 2026-12 used it) or per_label_v (a scoring vector per label); see"
        " LabelAttentionHead."
    ),
]
ShortlistSize = Annotated[
    int | None,
    typer.Option(
        help="LAN attends over each document's top-C labels of a jointly trained proposal scorer (large label"
        " spaces); default: every label."
    ),
]
Zones = Annotated[
    str | None,
    typer.Option(
        help="eurlex57k: comma-separated document parts among title, header, recitals, main_body"
        " (default header,recitals,main_body)."
    ),
]
Embeddings = Annotated[
    str | None,
    typer.Option(
        help="xmlcnn/attentionxml input: glove (words, GloVe 6B 50d; the preset), word2vec (words, skip-gram"
        " fitted on the training split) or wordpiece (MiniLM word pieces and input embeddings)."
    ),
]
GroupByLength = Annotated[
    bool | None,
    typer.Option(
        "--group-by-length/--no-group-by-length",
        help="Batches of documents of similar length (order still seeded): less padding, faster on long"
        " documents; the default (docs/results/perf_step_options.md). --no-group-by-length: plain seeded"
        " batches, as runs recorded before 2026-12-01.",
    ),
]
Amp = Annotated[
    bool | None,
    typer.Option(
        "--amp/--no-amp",
        help="bf16 autocast over the whole training step; default: on CUDA only. --amp also on CPUs with native"
        " bf16 (docs/results/perf_step_options.md).",
    ),
]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Seeds = Annotated[str, typer.Option(help="Comma-separated seeds; tables show mean ± std.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
TrainSplit = Annotated[
    str, typer.Option(help="Split to train on (e.g. val where the train text is missing).")
]
EvalSplit = Annotated[str, typer.Option(help="Split to report.")]
LimitTrain = Annotated[int | None, typer.Option(help="Train on a seeded sample of N documents.")]
DataDir = Annotated[
    Path | None, typer.Option(help="Data folder (default: $UCLAF_DATA, else ~/.cache/uclaf).")
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="fasttext, tsv or jsonl: the format of a data file/folder (default: told from the files).",
    ),
]
Root = Annotated[Path, typer.Option("--root", help="Folder that holds run folders.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]

# Every setting of a run, declared once: `run` takes them all, compare/ablate/sweep all but the method-defining ones.
RUN_SETTINGS = {
    "epochs": Epochs,
    "batch_size": BatchSize,
    "max_length": MaxLength,
    "lr": Lr,
    "lambda_": Lambda,
    "temperature": Temperature,
    "positives": Positives,
    "augment": Augment,
    "queue_size": QueueSize,
    "encoder": Encoder,
    "head": Head,
    "contrastive": Contrastive,
    "label_init": LabelInit,
    "key_precision": KeyPrecision,
    "lan_scoring": LanScoring,
    "shortlist_size": ShortlistSize,
    "zones": Zones,
    "embeddings": Embeddings,
    "group_by_length": GroupByLength,
    "amp": Amp,
}
METHOD_SETTINGS = ("head", "contrastive")  # what --methods chooses in the multi-run commands


def run_settings(*, exclude: tuple[str, ...] = ()):
    """Give a command every option of :data:`RUN_SETTINGS` but ``exclude``, passed to it as ``settings``: a dict of
    the options given on the command line (``None`` values left out)."""

    def decorate(command):
        names = [name for name in RUN_SETTINGS if name not in exclude]
        own = [
            p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "settings"
        ]
        options = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RUN_SETTINGS[name]
            )
            for name in names
        ]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            settings = _overrides(**{name: kwargs.pop(name) for name in names})
            return command(*args, settings=settings, **kwargs)

        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + options
        wrapper.__signature__ = inspect.Signature(parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


def _overrides(**values) -> dict:
    return {name: value for name, value in values.items() if value is not None}


console = Console(stderr=True)
out = Console()


def friendly_errors(command):
    """Turn the library's ValueError / FileNotFoundError into a one-line message and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from .bench.commands import RunInterrupted

        try:
            return command(*args, **kwargs)
        except RunInterrupted as stop:
            console.print(f"[yellow]Interrupted.[/] Checkpoint: {stop.checkpoint}")
            console.print(f"Resume with: [bold]{stop.resume_command}[/]")
            raise typer.Exit(130) from None
        except (ValueError, FileNotFoundError) as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None

    return wrapper
