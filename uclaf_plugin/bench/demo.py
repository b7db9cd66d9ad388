"""``uclaf-bench demo`` (``make demo``): UCLAF and the linear baseline on the embedded GoEmotions sample.

Trains both on the sample's 2,000 training comments (UCLAF: MiniLM + LAN + CACL, 2 epochs at 64 tokens), prints
their test metrics side by side (F1 at the fixed threshold and at the thresholds tuned on the validation split), and
the label sets UCLAF predicts for three test comments beside their true labels.
"""

from __future__ import annotations

from pathlib import Path

DATASET = "goemotions-sample"
METHODS = ("linear", "uclaf")
EXAMPLE_DOCS = (0, 1, 3)  # test comments shown; the fourth has two labels
SHOWN_METRICS = (
    "P@1",
    "P@3",
    "nDCG@3",
    "nDCG@5",
    "micro-F1",
    "micro-F1 (tuned)",
    "macro-F1",
    "macro-F1 (tuned)",
)


def run_demo(
    output: Path, device: str = "auto", quiet: bool = False, announce=print, limit_train=None, epochs=None
):
    """Train (or reuse) ``output/linear`` and ``output/uclaf``; returns the metrics table and the examples table.

    ``limit_train`` and ``epochs`` shrink the run for a quick try (the defaults: all 2,000 comments, 2 epochs).
    """
    from . import commands

    metrics = {}
    for method in METHODS:
        announce(f"training {method} on {DATASET} -> {Path(output) / method}")
        metrics[method], _ = commands.run(
            DATASET,
            method,
            seed=0,
            train_split="train",
            eval_split="test",
            limit_train=limit_train,
            overrides={} if epochs is None else {"epochs": epochs},
            output=Path(output) / method,
            resume=False,
            nproc=1,
            device=device,
            data_dir=None,
            quiet=quiet,
        )
    return metrics_side_by_side(metrics), example_predictions(Path(output) / "uclaf")


def metrics_side_by_side(metrics: dict[str, dict]):
    """A rich table: one row per metric (in %), one column per method, and the training time."""
    from rich.table import Table

    table = Table(title=f"{DATASET}: test metrics (%); F1 at the fixed threshold and tuned on validation")
    table.add_column("metric")
    for method in metrics:
        table.add_column(method, justify="right")
    for name in SHOWN_METRICS:
        table.add_row(name, *(_percent(run["test"].get(name)) for run in metrics.values()))
    table.add_row(
        "train seconds", *(f"{run.get('train_seconds', float('nan')):.1f}" for run in metrics.values())
    )
    return table


def example_predictions(run_dir: Path):
    """A rich table: three test comments, the label set the run predicts and the true labels."""
    from rich.table import Table

    from ..data import load_dataset
    from ..predict import RunPredictor

    test = load_dataset(DATASET).split("test")
    texts = [test.texts[i] for i in EXAMPLE_DOCS]
    records = RunPredictor(run_dir).predict(texts, top_k=3)
    table = Table(title="uclaf on three test comments (tuned thresholds)")
    table.add_column("comment", max_width=60)
    table.add_column("predicted labels")
    table.add_column("true labels")
    table.add_column("top-3 scores")
    for index, text, record in zip(EXAMPLE_DOCS, texts, records, strict=True):
        scores = ", ".join(f"{label} {score:.2f}" for label, score in record["scores"].items())
        table.add_row(text, ", ".join(record["labels"]) or "-", ", ".join(test.labels[index]), scores)
    return table


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"
