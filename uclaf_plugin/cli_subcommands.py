"""The ``uclaf-bench data`` and ``uclaf-bench plot`` sub-commands: datasets, and figures from a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_options import DataDir, Format, console, friendly_errors, out

data_app = typer.Typer(no_args_is_help=True, help="List, inspect and fetch datasets.")
plot_app = typer.Typer(no_args_is_help=True, help="Figures from a finished run.")


@plot_app.command("attention")
@friendly_errors
def plot_attention(
    run_dir: Annotated[
        Path, typer.Option("--run", help="A finished run folder with a label-attention head.")
    ],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="PNG path.")] = None,
    docs: Annotated[int, typer.Option(help="Test documents to draw.")] = 3,
    top_labels: Annotated[int, typer.Option(help="Highest-scoring labels drawn per document.")] = 4,
    data_dir: DataDir = None,
):
    """Label × word attention heatmaps of each document's top labels, for a few test documents (Figure 3).

    Example: uclaf-bench plot attention --run runs/demo/uclaf
    """
    from .bench import plots

    console.print(f"wrote {plots.attention_figure(run_dir, output, docs, data_dir, top_labels)}")


@plot_app.command("prototypes")
@friendly_errors
def plot_prototypes(
    run_dir: Annotated[Path, typer.Option("--run", help="A finished neural run folder.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="PNG path.")] = None,
    data_dir: DataDir = None,
):
    """t-SNE of the label prototypes, the mean document embedding of each label (Figure 4).

    Example: uclaf-bench plot prototypes --run runs/demo/uclaf
    """
    from .bench import plots

    console.print(f"wrote {plots.prototype_figure(run_dir, output, data_dir)}")


@data_app.command("list")
def data_list():
    """The registered datasets."""
    from .bench import commands

    out.print(commands.dataset_list_table())


@data_app.command("stats")
@friendly_errors
def data_stats(
    name: Annotated[str, typer.Argument(help="Dataset name or path.")],
    data_dir: DataDir = None,
    format: Format = None,
):
    """Documents, labels, labels and words per document, the most frequent labels.

    Example: uclaf-bench data stats reuters
    """
    from .bench import commands

    out.print(commands.dataset_stats_table(name, data_dir, format))


@data_app.command("fetch")
@friendly_errors
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    dest: Annotated[
        Path | None, typer.Option(help="Data folder (default: $UCLAF_DATA, else ~/.cache/uclaf).")
    ] = None,
):
    """Download and unpack a public dataset archive (needs internet).

    Example: uclaf-bench data fetch reuters
    """
    from .data import fetch

    console.print(f"unpacked into {fetch(name, dest)}")
