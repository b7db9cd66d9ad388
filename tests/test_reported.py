"""The paper's reported numbers (bench/reported.py): shown beside ours, labelled, and equal to the paper's text."""

import os
import re
from pathlib import Path

import pytest

from uclaf_plugin.bench import commands
from uclaf_plugin.bench.experiments import ablation_specs, compare_specs
from uclaf_plugin.bench.reported import REPORTED, reported_rows
from uclaf_plugin.bench.store import default_run_dir
from uclaf_plugin.files import write_json

PAPER = Path(os.environ.get("UCLAF_PAPER", Path(__file__).parents[2] / "shared/paper/uclaf-paper.md"))


def _finish(labelled, root, p_at_1=0.5):
    """Write a finished run folder for each spec, so compare/ablate reuse it instead of training."""
    for _, spec in labelled:
        folder = default_run_dir(spec, root)
        write_json(folder / "config.json", {"spec": spec.to_dict(), "command": spec.command()})
        write_json(folder / "metrics.json", {"test": {"P@1": p_at_1, "P@3": 0.25}, "train_seconds": 1.0})


def _run(command, *args, root):
    return command(*args, root=root, device="cpu", data_dir=None, quiet=True, announce=lambda _: None)


def test_ablate_shows_the_papers_positive_sets_beside_ours(tmp_path):
    _finish(ablation_specs("aapd", positives=["any", "per_label"], seed=0), tmp_path)
    _, (markdown, csv) = _run(commands.ablate, "aapd", ["any", "per_label"], None, [0], {}, root=tmp_path)
    lines = markdown.read_text().splitlines()
    reported = [line for line in lines if "[reported: paper Table 5, §7.3;" in line]
    assert len(reported) == 3 and "| 87.32 | 75.39 | 62.90 |" in reported[2]
    assert reported[2].startswith("| per_label (CACL) [reported") and "captioned AAPD" in reported[2]
    ours = [line for line in lines if line.startswith(("| any |", "| per_label |"))]
    assert len(ours) == 2 and all("| 50.00 | 25.00 |" in line for line in ours)
    assert "reported" not in csv.read_text()  # the CSV holds our runs only


def test_compare_shows_table_3_and_ablate_table_4_for_eurlex(tmp_path):
    _finish(compare_specs("eurlex", ["uclaf"], seed=0), tmp_path)
    _, (markdown, _) = _run(commands.compare, "eurlex", ["uclaf"], [0], {}, root=tmp_path)
    text = markdown.read_text()
    assert text.count("[reported: paper Table 3, §6.5]") == 7
    assert (
        "| uclaf (UCLAF) [reported: paper Table 3, §6.5] | 87.32 | 75.39 | 62.90 | 78.66 | 72.50 | – |"
        in text
    )
    _finish(ablation_specs("eurlex", seed=0), tmp_path)
    _, (markdown, _) = _run(commands.ablate, "eurlex", None, None, [0], {}, root=tmp_path)
    assert (
        "| +CACL (Baseline+CACL) [reported: paper Table 4, §7.1] | 86.20 | 74.13 | 62.37 | 77.82 | 71.67 |"
        in (markdown.read_text())
    )


def test_datasets_the_paper_does_not_report_get_no_rows():
    assert reported_rows("reuters") == [] and reported_rows("aapd", "Table 6")
    with pytest.raises(ValueError, match="Table 3, Table 4"):
        reported_rows("aapd", "Table 7")


def _number(cell: str) -> float:
    """A printed table cell as a number: bold tags dropped, a decimal comma ("41,64") read as a point."""
    return float(re.sub(r"<[^>]+>", "", cell).strip().replace(",", "."))


def paper_tables(text: str) -> dict[str, list[list[str]]]:
    """``{"Table 3": rows of cells, ...}``: each markdown table of the paper, named by the caption below it."""
    tables, block = {}, []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block and line.strip():
            caption = re.match(r"(Table \d+):", line.strip())
            if caption:
                tables[caption.group(1)] = [row for row in block if not set("".join(row)) <= set("-: ")]
            block = []
    return tables


def paper_numbers(tables) -> dict[tuple[str, str, str], dict[str, float]]:
    """``(table, dataset, printed row name) -> {metric: value}`` read from the paper's tables 3 to 6."""
    names = {"P@1": "P@1", "P@3": "P@3", "P@5": "P@5", "N@3": "nDCG@3", "N@5": "nDCG@5"}
    numbers: dict = {}
    table3 = tables["Table 3"]
    methods = table3[0][2:]
    for block, dataset in enumerate(["eurlex", "aapd"]):
        rows = table3[1 + 5 * block : 6 + 5 * block]
        assert any(dataset in re.sub(r"<[^>]+>", "", row[0]).lower() for row in rows)
        for column, method in enumerate(methods, start=2):
            numbers[("Table 3", dataset, method)] = {names[row[1]]: _number(row[column]) for row in rows}
    header = tables["Table 4"][1]
    assert header[:3] == ["Baseline", "LAN", "CACL"]
    for row in tables["Table 4"][2:]:
        printed = "+".join(
            ["Baseline", *[part for part, on in zip(["LAN", "CACL"], row[1:3], strict=True) if on == "Y"]]
        )
        for dataset, start in (("aapd", 3), ("eurlex", 8)):
            cells = dict(zip(header[start : start + 5], row[start : start + 5], strict=True))
            numbers[("Table 4", dataset, printed)] = {names[k]: _number(v) for k, v in cells.items()}
    for table in ("Table 5", "Table 6"):
        header = tables[table][0]
        for row in tables[table][1:]:
            numbers[(table, "aapd", row[0])] = {
                k: _number(v) for k, v in zip(header[1:], row[1:], strict=True)
            }
    return numbers


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper's text is not at {PAPER} (set UCLAF_PAPER)")
def test_every_reported_number_is_the_papers():
    numbers = paper_numbers(paper_tables(PAPER.read_text()))
    ours = {(row.table, row.dataset, row.printed): row.metrics for row in REPORTED}
    assert ours == numbers
    # Table 5's and 6's CACL rows, captioned AAPD, are the paper's EURLex UCLAF row of Table 3 (see reported.py)
    eurlex_uclaf = {k: v for k, v in numbers[("Table 3", "eurlex", "UCLAF")].items() if k.startswith("P@")}
    assert numbers[("Table 5", "aapd", "CACL")] == numbers[("Table 6", "aapd", "Ours")] == eurlex_uclaf
