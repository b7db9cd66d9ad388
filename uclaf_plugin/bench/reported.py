"""Numbers reported in the UCLAF paper (Zhu et al., IJCAI 2025, Table 3), shown by ``compare`` beside ours.

Only numbers copied from the paper belong here, each with its source. None are filled in yet: the paper's
table was not available when this was written (see docs/RESULTS.md). Entries look like
``{"method": "UCLAF (reported)", "P@1": 84.2, ...}`` with values in percent.
"""

from __future__ import annotations

REPORTED: dict[str, list[dict]] = {"aapd": [], "eurlex": []}


def reported_rows(dataset: str) -> list[dict]:
    """Rows to show above our own in ``compare``, labelled as reported numbers."""
    return [dict(row, runs=1) for row in REPORTED.get(dataset, [])]
