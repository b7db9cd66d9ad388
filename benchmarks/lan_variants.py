"""Table of the LAN scoring variants against dot-product attention (issue 18): accuracy and label-specificity.

Reads the run folders that ``bash docs/results/commands.sh lan-variants`` writes under
``ROOT/<dataset>/lan-variants/<variant>-seed<seed>/``, or records files of them (``docs/results/gpu/records/
lan-variants.jsonl``), and prints, per dataset and head, the mean ± std over
seeds of P@1 and nDCG@5 (test, %) and of the label-specificity of attention (``metrics.json``'s
``attention_specificity``: JS divergence between the top-2 labels' attention, in nats, and the share of documents
whose most-attended token differs between them), with each variant's P@1 against the paper's form.

    python benchmarks/lan_variants.py [ROOT or RECORDS.jsonl ...]      # default: runs
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from uclaf_plugin.bench.records import read_records, run_record

COLUMNS = (("P@1", "test", 100), ("nDCG@5", "test", 100))
SPECIFICITY = (("JS top-2", "attention_js", 1), ("argmax differs", "attention_argmax_differs", 100))


def variant_name(spec: dict) -> str:
    model = spec["model"]
    if model["head"] != "lan":
        return model["head"]
    kwargs = model["head_kwargs"]
    shortlist = f", shortlist {kwargs['shortlist_size']}" if kwargs.get("shortlist_size") else ""
    return f"lan {kwargs.get('scoring', 'paper')}{shortlist}"


def records(source: Path) -> list[dict]:
    """Records (``spec``, ``metrics``) of the lan-variants runs in a records file or below a runs root."""
    if source.suffix == ".jsonl":
        return [r for r in read_records(source) if "/lan-variants/" in r["folder"]]
    return [run_record(m.parent, source) for m in sorted(source.glob("*/lan-variants/*/metrics.json"))]


def collect(sources: list[Path]) -> dict[tuple[str, str], list[dict]]:
    runs = defaultdict(list)
    for source in sources:
        for record in records(source):
            spec = record["spec"]
            runs[(spec["dataset"], variant_name(spec))].append(record["metrics"])
    return dict(sorted(runs.items()))


def cell(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    std = f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else ""
    return f"{np.mean(values):.{digits}f}{std}"


def cell_sci(values: list[float]) -> str:
    if not values:
        return "–"
    std = f" ± {np.std(values, ddof=1):.1e}" if len(values) > 1 else ""
    return f"{np.mean(values):.1e}{std}"


def row(dataset: str, variant: str, runs: list[dict], paper_p1: float | None) -> str:
    cells = [cell([100 * r["test"][name] for r in runs], 2) for name, _, _ in COLUMNS]
    specificity = [r.get("attention_specificity") or {} for r in runs]
    for _, key, scale in SPECIFICITY:
        values = [scale * s[key] for s in specificity if key in s]
        cells.append(cell(values, 1) if scale != 1 else cell_sci(values))
    p1 = float(np.mean([100 * r["test"]["P@1"] for r in runs]))
    cells.append("–" if paper_p1 is None else f"{p1 - paper_p1:+.2f}")
    return f"| {dataset} | {variant} | {len(runs)} | " + " | ".join(cells) + " |"


def main() -> None:
    sources = [Path(arg) for arg in sys.argv[1:]] or [Path("runs")]
    runs = collect(sources)
    if not runs:
        raise SystemExit(
            f"no lan-variants runs in {sources}; run: bash docs/results/commands.sh lan-variants"
        )
    print(
        "| dataset | head | seeds | P@1 | nDCG@5 | JS top-2 (nats) | argmax differs (%) | P@1 vs lan paper |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (dataset, variant), members in runs.items():
        paper = runs.get((dataset, "lan paper"))
        paper_p1 = float(np.mean([100 * r["test"]["P@1"] for r in paper])) if paper else None
        print(row(dataset, variant, members, paper_p1))


if __name__ == "__main__":
    main()
