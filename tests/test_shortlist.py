"""Shortlisted label attention (issue 20): LabelAttentionHead(..., shortlist_size=C) against the exact head."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from uclaf_plugin.heads import SCORINGS, LabelAttentionHead

B, T, D, L = 4, 7, 8, 9


def inputs():
    torch.manual_seed(0)
    features = torch.randn(B, T, D, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 5:] = False
    mask[3, 2:] = False
    return features, mask


def heads(shortlist_size, scoring="paper", chunk=None, bias_init=None):
    """A shortlisted head and the exact head with the same LAN weights (random per-label biases, if any)."""
    torch.manual_seed(1)
    kwargs = dict(
        attention_dim=16, hidden_dim=5, scoring=scoring, label_chunk_size=chunk, bias_init=bias_init
    )
    shortlisted = LabelAttentionHead(D, L, shortlist_size=shortlist_size, **kwargs).double().eval()
    if bias_init is not None:
        torch.nn.init.normal_(shortlisted.label_bias)
    exact = LabelAttentionHead(D, L, **kwargs).double().eval()
    exact.load_state_dict(
        {k: v for k, v in shortlisted.state_dict().items() if not k.startswith("proposal.")}
    )
    return shortlisted, exact


@pytest.mark.parametrize("bias_init", [None, "zeros"])
@pytest.mark.parametrize("scoring", list(SCORINGS))
@pytest.mark.parametrize("size", [L, L + 5])
def test_a_shortlist_of_every_label_equals_the_exact_head(scoring, size, bias_init):
    shortlisted, exact = heads(size, scoring, chunk=2, bias_init=bias_init)
    features, mask = inputs()
    output = shortlisted(features, mask, return_attention=True)
    expected = exact(features, mask, return_attention=True)
    torch.testing.assert_close(output.logits, expected.logits, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(output.attention, expected.attention, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias_init", [None, "zeros"])
@pytest.mark.parametrize("scoring", list(SCORINGS))
def test_candidates_keep_their_exact_logit_and_rank_above_the_rest_in_proposal_order(scoring, bias_init):
    size = 3
    shortlisted, exact = heads(size, scoring, bias_init=bias_init)
    features, mask = inputs()
    output = shortlisted(features, mask, return_attention=True)
    logits, attention = output.logits, output.attention
    exact_output = exact(features, mask, return_attention=True)
    expected, expected_attention = exact_output.logits, exact_output.attention
    proposal = shortlisted.proposal_scores(features, mask)
    for row in range(B):
        candidates = torch.topk(proposal[row], size).indices
        others = torch.tensor([k for k in range(L) if k not in candidates.tolist()])
        torch.testing.assert_close(logits[row, candidates], expected[row, candidates], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(attention[row, candidates], expected_attention[row, candidates])
        assert torch.all(attention[row, others] == 0)
        assert logits[row, others].max() < min(logits[row, candidates].min(), 0)
        assert torch.equal(torch.argsort(logits[row, others]), torch.argsort(proposal[row, others]))


def test_loss_puts_true_labels_among_candidates_and_adds_the_proposal_bce():
    size = 3
    shortlisted, exact = heads(size)
    features, mask = inputs()
    targets = torch.zeros(B, L, dtype=torch.float64)
    targets[0, [0, 8]] = 1
    targets[1, 4] = 1
    targets[2, [1, 2, 3]] = 1
    proposal = shortlisted.proposal_scores(features, mask)
    exact_logits = exact(features, mask).logits
    expected = F.binary_cross_entropy_with_logits(proposal, targets)
    candidate_terms = []
    for row in range(B):
        true = targets[row].nonzero().squeeze(1).tolist()
        rest = [k for k in torch.argsort(proposal[row], descending=True).tolist() if k not in true]
        candidates = torch.tensor((true + rest)[:size])
        candidate_terms.append(
            F.binary_cross_entropy_with_logits(
                exact_logits[row, candidates], targets[row, candidates], reduction="sum"
            )
        )
    expected = expected + torch.stack(candidate_terms).sum() / (B * size)
    torch.testing.assert_close(shortlisted.loss(features, mask, targets), expected)
    sparse = shortlisted.loss(features, mask, targets.to_sparse_csr())
    torch.testing.assert_close(sparse, expected)


def test_exact_head_loss_is_the_bce_of_its_logits():
    _, exact = heads(None)
    features, mask = inputs()
    targets = (torch.rand(B, L) < 0.3).double()
    expected = F.binary_cross_entropy_with_logits(exact(features, mask).logits, targets)
    torch.testing.assert_close(exact.loss(features, mask, targets), expected)


@pytest.mark.parametrize("scoring", list(SCORINGS))
def test_shortlisted_head_ignores_padding_and_chunk_size(scoring):
    shortlisted, _ = heads(4, scoring, chunk=1)
    features, mask = inputs()
    logits = shortlisted(features, mask).logits
    noisy = features.masked_fill(~mask[..., None], 1e3)
    longer = torch.cat([noisy, torch.randn(B, 3, D, dtype=features.dtype)], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(B, 3, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(shortlisted(longer, longer_mask).logits, logits, rtol=1e-12, atol=1e-12)
    shortlisted.label_chunk_size = 3
    assert torch.equal(shortlisted(features, mask).logits, logits)


def test_shortlisted_loss_gradcheck():
    shortlisted, _ = heads(3, "per_label_v")
    shortlisted.activation = torch.nn.Tanh()
    features, mask = inputs()
    targets = torch.zeros(B, L)
    targets[:, 2] = 1
    features.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: shortlisted.loss(x, mask, targets), (features,))


def test_bad_shortlist_size_raises():
    with pytest.raises(ValueError, match="shortlist_size"):
        LabelAttentionHead(D, L, shortlist_size=0)


def text_head(proposal_init="label_init", size=1):
    torch.manual_seed(2)
    text = torch.randn(L, D, dtype=torch.float64)
    head = LabelAttentionHead(
        D, L, attention_dim=16, shortlist_size=size, label_init=text, proposal_init=proposal_init
    )
    return head.double().eval(), text


def test_the_proposal_starts_along_the_label_text_so_each_label_text_proposes_itself():
    head, text = text_head()
    rows = head.proposal.weight.detach()
    torch.testing.assert_close(F.cosine_similarity(rows, text, dim=1), torch.ones(L, dtype=torch.float64))
    assert torch.all(head.proposal.bias == 0)
    documents = text.unsqueeze(1).expand(L, T, D)  # document j: label j's text at every token
    assert torch.equal(head(documents).logits.argmax(1), torch.arange(L))


def test_a_random_proposal_ignores_the_label_text():
    head, text = text_head("random")
    assert F.cosine_similarity(head.proposal.weight.detach(), text, dim=1).abs().max() < 0.99
    with pytest.raises(ValueError, match="proposal_init"):
        LabelAttentionHead(D, L, shortlist_size=2, proposal_init="names")


def test_labels_without_a_positive_keep_their_text_ranking_through_training():
    """Labels 4-8 never occur: BCE pushes their proposal rows alike, so among them a document that reads like
    label j's text still ranks j first."""
    head, text = text_head(size=2)
    head.train()
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(3)
    for _ in range(30):
        features = torch.randn(B, T, D, dtype=torch.float64, generator=generator)
        targets = torch.zeros(B, L, dtype=torch.float64)
        targets[torch.arange(B), torch.randint(4, (B,), generator=generator)] = 1
        optimizer.zero_grad()
        head.loss(features, None, targets).backward()
        optimizer.step()
    head.eval()
    never = torch.arange(4, L)
    documents = text[never].unsqueeze(1).expand(len(never), T, D)
    with torch.no_grad():
        logits = head(documents).logits[:, never]
    assert torch.equal(logits.argmax(1), torch.arange(len(never)))


# ---------------------------------------------------------------- proposal_standardize: bert-std-prior's head as proposal


def test_a_standardized_proposal_scores_the_standardized_pooled_features():
    torch.manual_seed(3)
    head = LabelAttentionHead(D, L, attention_dim=16, shortlist_size=3, proposal_standardize=True).double()
    features, mask = inputs()
    pooled = torch.stack([features[i][mask[i]].mean(0) for i in range(B)])  # slow reference pooling
    batch_standardized = (pooled - pooled.mean(0)) / torch.sqrt(pooled.var(0, unbiased=False) + 1e-5)
    weight, bias = head.proposal.weight, head.proposal.bias
    torch.testing.assert_close(
        head.train().proposal_scores(features, mask), batch_standardized @ weight.T + bias
    )
    running_mean, running_var = torch.randn(D, dtype=torch.float64), torch.rand(D, dtype=torch.float64) + 0.5
    head.proposal_norm.running_mean.copy_(running_mean)
    head.proposal_norm.running_var.copy_(running_var)
    eval_standardized = (pooled - running_mean) / torch.sqrt(running_var + 1e-5)
    torch.testing.assert_close(
        head.eval().proposal_scores(features, mask), eval_standardized @ weight.T + bias
    )
    # the candidates are the top 3 of those scores, so the head's logits follow them
    shortlisted = head(features, mask).logits
    top = torch.topk(eval_standardized @ weight.T + bias, 3, dim=1).indices
    assert torch.equal(torch.topk(shortlisted, 3, dim=1).indices.sort(1).values, top.sort(1).values)


def test_a_standardized_proposal_starts_along_the_standardized_label_text():
    """Document j whose pooled features, standardised with the label text's own statistics, equal label j's
    standardised text proposes label j first."""
    torch.manual_seed(2)
    text = (
        torch.randn(L, D, dtype=torch.float64) * 3 + 5
    )  # a large shared offset, as pooled MiniLM features have
    head = LabelAttentionHead(
        D, L, attention_dim=16, shortlist_size=1, label_init=text, proposal_standardize=True
    ).double()
    standardized = (text - text.mean(0)) / text.std(0)
    rows = head.proposal.weight.detach()
    torch.testing.assert_close(
        F.cosine_similarity(rows, standardized, dim=1), torch.ones(L, dtype=torch.float64)
    )
    head.proposal_norm.running_mean.copy_(text.mean(0))
    head.proposal_norm.running_var.copy_(text.var(0))
    documents = text.unsqueeze(1).expand(L, T, D)
    assert torch.equal(head.eval()(documents).logits.argmax(1), torch.arange(L))


def test_a_standardized_proposal_starts_its_bias_at_the_prior_and_needs_a_shortlist():
    targets = torch.zeros(4, L)
    targets[:, 0] = 1
    targets[0, 1] = 1  # shares 1 (clipped to 7/8), 1/4, then 0 (clipped to 1/8)
    head = LabelAttentionHead(D, L, shortlist_size=2, proposal_standardize=True)
    assert head.starts_at_prior and head.label_bias is None
    head.start_bias_at_prior(targets.numpy())
    expected = torch.tensor([np.log(7), -np.log(3)] + [-np.log(7)] * (L - 2), dtype=torch.float32)
    torch.testing.assert_close(head.proposal.bias.data, expected)
    assert not LabelAttentionHead(D, L, shortlist_size=2).starts_at_prior
    with pytest.raises(ValueError, match="shortlist_size"):
        LabelAttentionHead(D, L, proposal_standardize=True)
    with pytest.raises(ValueError, match="no bias to start at the prior"):
        LabelAttentionHead(D, L, shortlist_size=2).start_bias_at_prior(targets.numpy())
