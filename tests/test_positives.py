"""Positive definitions on hand-worked label sets, and plugging in a new one."""

import math

import pytest
import torch

from uclaf_plugin.losses import cacl_loss
from uclaf_plugin.positives import (
    POSITIVES,
    LabelPositives,
    all_labels,
    any_label,
    get_positive,
    jaccard,
    per_label,
    register_positive,
)

# anchors: {0, 1}, {2}; references: {0}, {0, 1}, {}, {1, 2}
LABELS = torch.tensor([[1, 1, 0], [0, 0, 1]], dtype=torch.bool)
REF_LABELS = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1]], dtype=torch.bool)


def test_any_label():
    expected = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(any_label(LABELS, REF_LABELS), expected)


def test_all_labels_needs_the_same_non_empty_set():
    expected = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(all_labels(LABELS, REF_LABELS), expected)
    empty = torch.zeros(1, 3, dtype=torch.bool)
    torch.testing.assert_close(all_labels(empty, REF_LABELS), torch.zeros(1, 4))


def test_jaccard():
    expected = torch.tensor([[1 / 2, 1.0, 0.0, 1 / 3], [0.0, 0.0, 0.0, 1 / 2]])
    torch.testing.assert_close(jaccard(LABELS, REF_LABELS), expected)


def test_per_label_keeps_only_label_columns_an_anchor_has_above_the_compaction_size(monkeypatch):
    from uclaf_plugin import positives

    anchors = torch.tensor([[True, False, False], [True, False, True]])
    kept = per_label(anchors, REF_LABELS)  # 3 columns: below the size, every column stays
    assert torch.equal(kept.anchor_labels, anchors) and torch.equal(kept.ref_labels, REF_LABELS)
    monkeypatch.setattr(positives, "COMPACT_COLUMNS_ABOVE", 2)
    found = per_label(anchors, REF_LABELS)
    assert isinstance(found, LabelPositives)
    assert torch.equal(found.anchor_labels, torch.tensor([[True, False], [True, True]]))
    assert torch.equal(found.ref_labels, REF_LABELS[:, [0, 2]])


def test_a_registered_positive_plugs_into_the_loss():
    def everyone_but_the_unlabelled(labels, ref_labels):
        return ref_labels.any(dim=1).float().expand(len(labels), -1)

    register_positive("labelled", everyone_but_the_unlabelled)
    try:
        anchor = torch.tensor([[1.0, 0.0]])
        refs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # similarities 1, 0, -1 at τ = 1
        ref_labels = torch.tensor([[1, 0, 0], [0, 0, 0], [0, 0, 1]])
        loss = cacl_loss(
            anchor, torch.tensor([[0, 1, 0]]), refs, ref_labels, temperature=1.0, positives="labelled"
        )
        normalizer = math.log(math.e + 1 + 1 / math.e)
        # positives: references 0 and 2 -> -((1 - lse) + (-1 - lse)) / 2 = lse
        assert loss.item() == pytest.approx(normalizer, rel=1e-6)
    finally:
        POSITIVES.pop("labelled")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="per_label") as error:
        get_positive("some")
    assert all(name in str(error.value) for name in ("any", "all", "jaccard"))


def test_register_rejects_a_non_callable():
    with pytest.raises(ValueError, match="callable"):
        register_positive("broken", 3)


@pytest.mark.parametrize("positives", ["per_label", "any"])
def test_label_columns_no_anchor_has_change_nothing_above_and_below_the_compaction_size(positives):
    """Above ``COMPACT_COLUMNS_ABOVE`` columns the positives drop the columns no anchor has; below, they keep every
    column. Either way the loss is the loss over the anchors' columns alone (for the positive sets built from the
    anchors' labels; ALL and Jaccard also count the references' other labels)."""
    from uclaf_plugin.positives import COMPACT_COLUMNS_ABOVE

    generator = torch.Generator().manual_seed(0)
    anchors = torch.rand(6, 20, generator=generator) < 0.3
    refs = torch.rand(10, 20, generator=generator) < 0.3
    embeddings = torch.nn.functional.normalize(torch.randn(6, 8, generator=generator), dim=1)
    ref_emb = torch.nn.functional.normalize(torch.randn(10, 8, generator=generator), dim=1)
    used = anchors.any(dim=0)
    expected = cacl_loss(embeddings, anchors[:, used], ref_emb, refs[:, used], positives=positives)
    for extra in (5, COMPACT_COLUMNS_ABOVE + 1):  # label columns only the references have
        wide_refs = torch.cat([refs, torch.rand(10, extra, generator=generator) < 0.5], dim=1)
        wide_anchors = torch.cat([anchors, torch.zeros(6, extra, dtype=torch.bool)], dim=1)
        got = cacl_loss(embeddings, wide_anchors, ref_emb, wide_refs, positives=positives)
        torch.testing.assert_close(got, expected)
