import math

import pytest
import torch

from uclaf_plugin.heads import DotLabelAttentionHead, LabelAttentionHead
from uclaf_plugin.specificity import js_divergence, label_specificity, top2_attention_stats


def test_identical_attention_rows_give_zero():
    attention = torch.softmax(torch.randn(4, 1, 6), -1).expand(4, 3, 6)
    stats = label_specificity(attention, torch.randn(4, 3))
    assert stats == {"attention_js": 0.0, "attention_argmax_differs": 0.0, "attention_docs": 4}


def test_hand_built_case():
    # document 0: top-2 labels are 2 then 0 with p = [.5, .5, 0], q = [0, .5, .5]; m = [.25, .5, .25]
    # KL(p||m) = .5 ln(.5/.25) = .5 ln 2 = KL(q||m), so JS = .5 ln 2; most-attended tokens 0 and 1 differ.
    # document 1: both top labels attend [1, 0, 0] -> JS 0, same token. document 2 has no tokens: dropped.
    attention = torch.tensor(
        [
            [[0.0, 0.5, 0.5], [0.2, 0.2, 0.6], [0.5, 0.5, 0.0]],
            [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ]
    )
    logits = torch.tensor([[1.0, -3.0, 2.0], [5.0, 4.0, 0.0], [1.0, 2.0, 3.0]])
    js, differs = top2_attention_stats(attention, logits)
    torch.testing.assert_close(js, torch.tensor([0.5 * math.log(2), 0.0]))
    assert differs.tolist() == [True, False]
    stats = label_specificity(attention, logits)
    assert stats["attention_docs"] == 2
    assert stats["attention_js"] == pytest.approx(0.25 * math.log(2))
    assert stats["attention_argmax_differs"] == 0.5


def test_js_divergence_is_symmetric_and_bounded_by_ln2():
    p, q = torch.softmax(torch.randn(50, 7), -1), torch.softmax(torch.randn(50, 7), -1)
    torch.testing.assert_close(js_divergence(p, q), js_divergence(q, p))
    disjoint = js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert disjoint.item() == pytest.approx(math.log(2))
    assert torch.all(js_divergence(p, q) <= math.log(2))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="two labels"):
        label_specificity(torch.ones(2, 1, 3) / 3, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="logits"):
        label_specificity(torch.ones(2, 3, 3) / 3, torch.zeros(2, 4))


def near_linear_features(scale=0.1):
    torch.manual_seed(0)
    return scale * torch.randn(8, 12, 16)


@pytest.mark.parametrize("scoring", ["per_label_v", "multiplicative"])
def test_label_aware_scoring_separates_labels_where_the_paper_form_cannot(scoring):
    """With small inputs tanh is near-linear: the paper's label term is constant over tokens, so every label
    attends alike; per-label v and the multiplicative interaction keep labels apart (a dot-product head, the
    reference, does too)."""
    features = near_linear_features()

    @torch.no_grad()
    def js_of(head):
        output = head.eval()(features, return_attention=True)
        return label_specificity(output.attention, output.logits)["attention_js"]

    torch.manual_seed(1)
    paper = LabelAttentionHead(16, 6, attention_dim=32, scoring="paper")
    torch.manual_seed(1)
    aware = LabelAttentionHead(16, 6, attention_dim=32, scoring=scoring)
    with torch.no_grad():  # put label and token terms on a similar, near-linear scale for both
        for head in (paper, aware):
            head.token_proj.weight.mul_(20)
            head.label_proj.weight.mul_(2)
    dot = DotLabelAttentionHead(16, 6)
    with torch.no_grad():
        dot.label_queries.mul_(20)
    assert js_of(paper) < 1e-3
    assert js_of(aware) > 10 * js_of(paper)
    assert js_of(dot) > 10 * js_of(paper)
