"""Result tables: one row per run, mean ± std over seeds, as rich, markdown or CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import numpy as np

METRIC_COLUMNS = ["P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "micro-F1", "macro-F1"]
CSV_COLUMNS = [
    "method",
    "seed",
    "P@1",
    "P@3",
    "P@5",
    "nDCG@3",
    "nDCG@5",
    "micro_F1",
    "macro_F1",
    "train_seconds",
    "command",
]


def run_row(run: dict, label: str | None = None) -> dict:
    """Flatten a loaded run into a row of percentages plus timing."""
    metrics = run["metrics"]
    row = {"method": label or run["spec"].get("method"), "seed": run["spec"].get("seed")}
    row.update({name: 100 * metrics["test"][name] for name in METRIC_COLUMNS if name in metrics["test"]})
    row["train_seconds"] = metrics.get("train_seconds")
    row["docs_per_second"] = metrics.get("docs_per_second")
    row["command"] = run.get("command")
    return row


def aggregate(rows: list[dict], by: str = "method") -> list[dict]:
    """Mean and std over the rows sharing ``row[by]`` (e.g. seeds), in first-seen order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row[by]].append(row)
    summary = []
    for name, members in groups.items():
        entry = {by: name, "runs": len(members)}
        for column in [*METRIC_COLUMNS, "train_seconds", "docs_per_second"]:
            values = [m[column] for m in members if m.get(column) is not None]
            if values:
                entry[column] = float(np.mean(values))
                entry[f"{column} std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def format_cell(entry: dict, column: str) -> str:
    value = entry.get(column)
    if value is None:
        return "–"
    digits = 0 if column == "train_seconds" else 1 if column == "docs_per_second" else 2
    text = f"{value:.{digits}f}"
    if entry.get("runs", 1) > 1 and f"{column} std" in entry:
        text += f" ± {entry[f'{column} std']:.{digits}f}"
    return text


def to_markdown(entries: list[dict], columns: list[str], first: str = "method") -> str:
    header = [first, *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in entries:
        lines.append("| " + " | ".join([str(entry[first]), *(format_cell(entry, c) for c in columns)]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    """One row per run with the columns of ``docs/results/<dataset>.csv``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k.replace("-", "_"): _round(v) for k, v in row.items()})
    return buffer.getvalue()


def rich_table(entries: list[dict], columns: list[str], title: str | None = None, first: str = "method"):
    from rich.table import Table

    table = Table(title=title)
    table.add_column(first)
    for column in columns:
        table.add_column(column, justify="right")
    for entry in entries:
        table.add_row(str(entry[first]), *(format_cell(entry, c) for c in columns))
    return table


def _round(value):
    return round(value, 4) if isinstance(value, float) else value
