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


def test_per_label_keeps_only_label_columns_an_anchor_has():
    found = per_label(torch.tensor([[True, False, False], [True, False, True]]), REF_LABELS)
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
