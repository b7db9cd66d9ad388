"""Numbers reported in the UCLAF paper, shown by ``compare`` and ``ablate`` beside ours, labelled as reported.

Source: Zhu, Zhou, Li, Chen, Zhu, "Multi-Label Text Classification with Label Attention Aware and Correlation Aware
Contrastive Learning", IJCAI 2025 (the text in ``shared/paper/uclaf-paper.md``, which has no page numbers, so each
row names its table and section). Values are percentages as printed; ``N@k`` in the paper is our ``nDCG@k``.
``tests/test_reported.py`` checks every number against the paper's text when that file is present.

As printed, not corrected:
- Table 3 prints AttentionXML's AAPD P@5 as "41,64" (a decimal comma): 41.64 here.
- Table 3 names one baseline "CUDN"; the paper's README and related work call it GUDN. Shown as printed.
- Tables 5 and 6 are captioned "on the AAPD dataset", but their CACL / "Ours" rows (87.32 / 75.39 / 62.90) equal
  the paper's EURLex row of Table 3 (UCLAF), not its AAPD row (86.69 / 62.96 / 42.72), and their other rows are of
  EURLex's magnitude (AAPD's P@5 is about 42, not about 61). They are shown under ``aapd`` as captioned, with
  that note in every label.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_FOR_ABLATION = {"components": "Table 4", "positives": "Table 5", "augment": "Table 6"}
SECTIONS = {"Table 3": "§6.5", "Table 4": "§7.1", "Table 5": "§7.3", "Table 6": "§7.3"}
CAPTION_NOTE = "captioned AAPD; CACL row = paper's EURLex Table 3 row"
P_AND_N = ("P@1", "P@3", "P@5", "nDCG@3", "nDCG@5")
P_ONLY = ("P@1", "P@3", "P@5")


@dataclass(frozen=True)
class ReportedRow:
    """One row of one of the paper's tables: ``ours`` is the matching label of our table, ``printed`` the paper's."""

    table: str
    dataset: str
    printed: str
    ours: str | None
    metrics: dict[str, float]
    note: str | None = None

    def label(self) -> str:
        name = f"{self.ours} ({self.printed})" if self.ours and self.ours != self.printed else self.printed
        source = f"{self.table}, {SECTIONS[self.table]}" + (f"; {self.note}" if self.note else "")
        return f"{name} [reported: paper {source}]"


def _rows(table, dataset, columns, entries, note=None) -> list[ReportedRow]:
    return [
        ReportedRow(table, dataset, printed, ours, dict(zip(columns, values, strict=True)), note)
        for printed, ours, values in entries
    ]


REPORTED: list[ReportedRow] = [
    *_rows(
        "Table 3",
        "eurlex",
        P_AND_N,
        [
            ("XMLCNN", "xmlcnn", (76.81, 62.79, 51.56, 66.44, 60.47)),
            ("AttentionXML", "attentionxml", (85.90, 73.01, 61.00, 76.41, 70.47)),
            ("CornetAttentionXML", None, (85.85, 73.32, 61.68, 76.61, 70.49)),
            ("LightXML", None, (86.03, 74.19, 62.27, 77.41, 71.70)),
            ("CUDN", None, (85.51, 74.10, 62.14, 77.23, 71.49)),
            ("MLGN", None, (86.31, 74.77, 62.66, 77.97, 72.13)),
            ("UCLAF", "uclaf", (87.32, 75.39, 62.90, 78.66, 72.50)),
        ],
    ),
    *_rows(
        "Table 3",
        "aapd",
        P_AND_N,
        [
            ("XMLCNN", "xmlcnn", (74.38, 53.84, 37.79, 71.12, 75.93)),
            ("AttentionXML", "attentionxml", (83.70, 60.63, 41.64, 79.90, 84.10)),
            ("CornetAttentionXML", None, (86.00, 61.57, 41.76, 81.25, 84.90)),
            ("LightXML", None, (85.80, 61.30, 42.02, 81.26, 85.32)),
            ("CUDN", None, (85.80, 62.30, 42.42, 81.97, 85.87)),
            ("MLGN", None, (86.10, 62.57, 42.44, 82.45, 86.17)),
            ("UCLAF", "uclaf", (86.69, 62.96, 42.72, 82.99, 86.70)),
        ],
    ),
    *_rows(
        "Table 4",
        "aapd",
        P_AND_N,
        [
            ("Baseline", "baseline", (85.30, 61.37, 41.18, 82.45, 81.30)),
            ("Baseline+LAN", "+LAN", (85.58, 61.67, 41.26, 82.87, 81.85)),
            ("Baseline+CACL", "+CACL", (85.78, 61.97, 42.24, 82.21, 82.10)),
            ("Baseline+LAN+CACL", "+LAN +CACL (UCLAF)", (86.69, 62.96, 42.72, 82.99, 86.70)),
        ],
    ),
    *_rows(
        "Table 4",
        "eurlex",
        P_AND_N,
        [
            ("Baseline", "baseline", (84.55, 73.05, 61.49, 80.93, 79.20)),
            ("Baseline+LAN", "+LAN", (85.42, 73.87, 62.18, 81.65, 79.86)),
            ("Baseline+CACL", "+CACL", (86.20, 74.13, 62.37, 77.82, 71.67)),
            ("Baseline+LAN+CACL", "+LAN +CACL (UCLAF)", (87.32, 75.39, 62.90, 78.66, 72.50)),
        ],
    ),
    *_rows(
        "Table 5",
        "aapd",
        P_ONLY,
        [
            ("ALL", "all", (84.32, 73.59, 60.34)),
            ("ANY", "any", (85.46, 74.18, 60.62)),
            ("CACL", "per_label", (87.32, 75.39, 62.90)),
        ],
        note=CAPTION_NOTE,
    ),
    *_rows(
        "Table 6",
        "aapd",
        P_ONLY,
        [
            ("Random Masking", "random_mask", (87.15, 75.27, 62.36)),
            ("Continuous Masking", "span_mask", (86.92, 74.56, 61.85)),
            ("Token Shuffling", "shuffle", (86.61, 74.21, 61.72)),
            ("Ours", "dropout", (87.32, 75.39, 62.90)),
        ],
        note=CAPTION_NOTE,
    ),
]


def reported_rows(dataset: str, table: str = "Table 3") -> list[dict]:
    """Table entries (``{"method": label, "runs": 1, "P@1": ...}``) of the paper's ``table`` for ``dataset``.

    ``table`` is ``"Table 3"`` (main results, shown by ``compare``) or one of ``TABLE_FOR_ABLATION``'s values
    (shown by ``ablate``); a dataset the paper does not report gives no rows. Raises ``ValueError`` for another
    table name.
    """
    if table not in SECTIONS:
        raise ValueError(f"the paper's reported tables are {', '.join(SECTIONS)}; got {table!r}")
    return [
        {"method": row.label(), "runs": 1, **row.metrics}
        for row in REPORTED
        if row.table == table and row.dataset == dataset
    ]
