import functools

import numpy as np
import pytest
import scipy.sparse
import torch

from uclaf_plugin.heads import (
    SCORINGS,
    DotLabelAttentionHead,
    HeadOutput,
    LabelAttentionHead,
    LinearHead,
    additive_attention_scores,
    auto_label_chunk_size,
    build_head,
    label_token_scores,
    masked_mean_pool,
)
from uclaf_plugin.pipeline import ModelConfig, TextClassifier

B, T, D, L = 3, 6, 8, 5


def inputs(dtype=torch.float64):
    """Features and a mask with a full document, a padded one and an empty one."""
    features = torch.randn(B, T, D, dtype=dtype)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2] = False
    return features, mask


def lan(**kwargs):
    return LabelAttentionHead(D, L, attention_dim=16, hidden_dim=7, **kwargs).double().eval()


def reference_score(head, label, k, tokens):
    """``s_tk`` of ``head.scoring`` for one label over a document's tokens, straight from its formula."""
    projected_label, projected_tokens = head.label_proj(label), head.token_proj(tokens)
    if head.scoring == "paper":
        return torch.tanh(projected_label + projected_tokens) @ head.score.weight[0]
    if head.scoring == "per_label_v":
        return torch.tanh(projected_label + projected_tokens) @ head.label_score[k]
    assert head.scoring == "multiplicative"
    return torch.tanh(projected_label * projected_tokens) @ head.score.weight[0]


def reference_lan(head, features, mask):
    """The head's formula, one document and one label at a time (dropout off)."""
    logits, attention = torch.zeros(B, L, dtype=features.dtype), torch.zeros(B, L, T, dtype=features.dtype)
    for b in range(B):
        tokens = features[b][mask[b]]
        for k in range(L):
            label = head.label_embedding[k]
            context = torch.zeros(D, dtype=features.dtype)
            if len(tokens):
                beta = torch.softmax(reference_score(head, label, k, tokens), dim=0)
                attention[b, k, mask[b]] = beta
                context = beta @ tokens
            fc1 = head.activation(head.fc1(torch.cat([label, context])))
            logits[b, k] = head.fc2(fc1)[0]
            if head.label_readout is not None:
                logits[b, k] += head.label_readout[k] @ context
            if head.label_bias is not None:
                logits[b, k] += head.label_bias[k]
    return logits, attention


def reference_dot(head, features, mask):
    scores = torch.einsum("kd,btd->bkt", head.label_queries, features).masked_fill(~mask[:, None], -torch.inf)
    attention = torch.nan_to_num(torch.softmax(scores, dim=-1))
    context = attention @ features
    if head.hidden_dim is None:
        return (context * head.label_weight).sum(-1) + head.label_bias
    return head.fc2(torch.relu(head.fc1(context))).squeeze(-1)


# ---------------------------------------------------------------- LabelAttentionHead


@pytest.mark.parametrize("scoring", list(SCORINGS))
@pytest.mark.parametrize("readout", [True, False])
@pytest.mark.parametrize("chunk", [1, 2, L, None])
def test_lan_matches_the_per_document_formula(chunk, readout, scoring):
    head = lan(label_chunk_size=chunk, label_readout=readout, scoring=scoring)
    assert (head.label_readout is None) is not readout
    features, mask = inputs()
    output = head(features, mask, return_attention=True)
    expected_logits, expected_attention = reference_lan(head, features, mask)
    torch.testing.assert_close(output.logits, expected_logits)
    torch.testing.assert_close(output.attention, expected_attention)


@pytest.mark.parametrize("chunk", [2, None])
def test_lan_per_label_bias_adds_to_each_labels_logit(chunk):
    head = lan(label_chunk_size=chunk, bias_init="zeros")
    torch.nn.init.normal_(head.label_bias)
    features, mask = inputs()
    torch.testing.assert_close(head(features, mask).logits, reference_lan(head, features, mask)[0])
    assert lan().label_bias is None  # the paper's head has none


def test_lan_bias_starts_at_the_log_prior_odds_of_the_bce_it_enters():
    targets = np.zeros((4, L), dtype=int)
    targets[0, 0] = 1
    targets[:, 1] = 1  # shares 1/4, 1 (clipped to 7/8), then 0 (clipped to 1/8) for the rest
    prior = torch.tensor([-np.log(3), np.log(7)] + [-np.log(7)] * (L - 2), dtype=torch.float32)
    exact = LabelAttentionHead(D, L, bias_init="prior")
    exact.start_bias_at_prior(scipy.sparse.csr_matrix(targets))
    torch.testing.assert_close(exact.label_bias.data, prior)
    shortlisted = LabelAttentionHead(D, L, shortlist_size=2, bias_init="prior")
    shortlisted.start_bias_at_prior(targets)
    torch.testing.assert_close(shortlisted.proposal.bias.data, prior)  # its BCE covers every label
    # among each document's 2 candidates: 2/2, 1/2, 1/2, 1/2 true -> share 5/8, the same for every label
    torch.testing.assert_close(
        shortlisted.label_bias.data, torch.full((L,), np.log(5 / 3), dtype=torch.float32)
    )
    with pytest.raises(ValueError, match="bias_init"):
        LabelAttentionHead(D, L).start_bias_at_prior(targets)
    with pytest.raises(ValueError, match="train_targets"):
        exact.start_bias_at_prior(targets[:, :2])


@pytest.mark.parametrize("scoring", list(SCORINGS))
def test_lan_chunk_size_never_changes_output_or_gradients(scoring):
    features, mask = inputs()
    head = lan(scoring=scoring)
    outputs, grads = [], []
    for chunk in (1, 2, 3, L, None):
        head.label_chunk_size = chunk
        x = features.clone().requires_grad_()
        logits = head(x, mask).logits
        logits.square().sum().backward()
        outputs.append(logits.detach())
        grads.append([x.grad] + [p.grad.clone() for p in head.parameters()])
        head.zero_grad()
    for logits, grad in zip(outputs[1:], grads[1:], strict=True):
        assert torch.equal(logits, outputs[0])
        for got, want in zip(grad, grads[0], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scoring", list(SCORINGS))
def test_lan_ignores_padding_values_and_amount(scoring):
    head = lan(label_chunk_size=2, scoring=scoring)
    features, mask = inputs()
    logits = head(features, mask).logits
    noisy = features.masked_fill(~mask[..., None], 1e6)
    longer = torch.cat([noisy, torch.randn(B, 4, D, dtype=features.dtype)], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(B, 4, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(head(noisy, mask).logits, logits, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(head(longer, longer_mask).logits, logits, rtol=1e-12, atol=1e-12)


def test_lan_attention_sums_to_one_over_real_tokens_and_zero_on_padding():
    features, mask = inputs()
    attention = lan(label_chunk_size=3)(features, mask, return_attention=True).attention
    assert attention.shape == (B, L, T)
    assert torch.all(attention[~mask[:, None].expand(B, L, T)] == 0)
    sums = attention.sum(-1)
    torch.testing.assert_close(sums[:2], torch.ones(2, L, dtype=sums.dtype))
    assert torch.all(sums[2] == 0)  # the empty document


def test_empty_documents_give_finite_logits_and_gradients():
    features = torch.randn(2, T, D, dtype=torch.float64, requires_grad=True)
    mask = torch.zeros(2, T, dtype=torch.bool)
    for head in (lan(), build_head("dot", D, L).double(), build_head("linear", D, L, pooling="max").double()):
        logits = head(features, mask).logits
        logits.sum().backward()
        assert torch.isfinite(logits).all() and torch.isfinite(features.grad).all()
        features.grad = None


def test_mask_may_be_bool_int_or_float():
    head = lan()
    features, mask = inputs()
    expected = head(features, mask).logits
    for as_numbers in (mask.long(), mask.double()):
        torch.testing.assert_close(head(features, as_numbers).logits, expected, rtol=0, atol=0)
    torch.testing.assert_close(head(features).logits, head(features, torch.ones(B, T)).logits, rtol=0, atol=0)


@pytest.mark.parametrize("scoring", list(SCORINGS))
def test_lan_gradcheck_through_chunked_recomputed_path(scoring):
    head = lan(label_chunk_size=2, activation="tanh", scoring=scoring)
    features, mask = inputs()
    features.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: head(x, mask).logits, (features,))
    names = ("label_embedding", "label_score" if scoring == "per_label_v" else "score.weight")
    params = tuple(dict(head.named_parameters())[name] for name in names)
    assert torch.autograd.gradcheck(
        lambda *p: (
            torch.func.functional_call(
                head, dict(zip(names, p, strict=True)), (features.detach(), mask)
            ).logits
        ),
        params,
    )


def test_additive_scores_gradcheck_and_formula():
    tokens = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, dtype=torch.float64, requires_grad=True)
    expected = torch.tanh(labels[:, None] + tokens[None]) @ v
    for chunk in (1, 2, 5):
        scores = functools.partial(additive_attention_scores, chunk_size=chunk)
        torch.testing.assert_close(scores(tokens, labels, v), expected)
        assert torch.autograd.gradcheck(scores, (tokens, labels, v))


@pytest.mark.parametrize("interaction", ["add", "mul"])
@pytest.mark.parametrize("per_label", [False, True])
def test_label_token_scores_gradcheck_and_formula(interaction, per_label):
    tokens = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(5 if per_label else 1, 4, dtype=torch.float64)
    v = (v if per_label else v[0]).requires_grad_()
    combined = labels[:, None] + tokens[None] if interaction == "add" else labels[:, None] * tokens[None]
    expected = (torch.tanh(combined) * (v[:, None] if per_label else v)).sum(-1)
    for chunk in (1, 2, 5):
        scores = functools.partial(label_token_scores, chunk_size=chunk, interaction=interaction)
        torch.testing.assert_close(scores(tokens, labels, v), expected)
        assert torch.autograd.gradcheck(scores, (tokens, labels, v))


@pytest.mark.parametrize("interaction", ["add", "mul"])
@pytest.mark.parametrize("per_label", [False, True])
def test_batched_label_token_scores_equal_one_call_per_document(interaction, per_label):
    """Each document its own labels (a shortlist): the batched call equals a 2-D call per document."""
    tokens = torch.randn(3, 6, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(*((3, 5, 4) if per_label else (4,)), dtype=torch.float64, requires_grad=True)
    expected = torch.stack(
        [label_token_scores(tokens[b], labels[b], v[b] if per_label else v, 2, interaction) for b in range(3)]
    )
    for chunk in (1, 2, 5):
        scores = functools.partial(label_token_scores, chunk_size=chunk, interaction=interaction)
        torch.testing.assert_close(scores(tokens, labels, v), expected, rtol=1e-12, atol=1e-12)
        assert torch.autograd.gradcheck(scores, (tokens, labels, v))


def test_additive_scores_do_not_store_the_tanh_tensor_for_backward():
    tokens, labels, v = torch.randn(64, 16, requires_grad=True), torch.randn(40, 16), torch.randn(16)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        additive_attention_scores(tokens, labels, v, chunk_size=4).sum().backward()
    assert sum(saved) <= 64 * 16 + 40 * 16 + 16  # only the inputs, never a (chunk, N, a) block


def test_automatic_chunk_size_fits_the_budget():
    two_mib_per_label = 4 * 512 * 256 * 4  # B=4, T=512, a=256, float32
    assert auto_label_chunk_size(3956, two_mib_per_label) == 128  # 256 MiB / 2 MiB
    assert auto_label_chunk_size(54, two_mib_per_label) == 54
    assert auto_label_chunk_size(10, 10**12) == 1


def test_label_init_sets_label_embeddings_and_label_dim():
    label_init = torch.randn(L, 3)
    head = LabelAttentionHead(D, L, attention_dim=4, label_init=label_init).eval()
    assert torch.equal(head.label_embedding.detach(), label_init)
    assert head.label_proj.in_features == 3 and head.fc1.in_features == 3 + D
    features, mask = inputs(torch.float32)
    before = head(features, mask).logits
    with torch.no_grad():
        head.label_embedding[0] += 1
    after = head(features, mask).logits
    assert not torch.allclose(before[:, 0], after[:, 0])
    torch.testing.assert_close(before[:, 1:], after[:, 1:])


def test_lan_autocast_bfloat16_runs():
    head = LabelAttentionHead(D, L, attention_dim=4)
    features, mask = inputs(torch.float32)
    features.requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head(features, mask).logits
    logits.float().sum().backward()
    assert torch.isfinite(features.grad).all() and logits.shape == (B, L)


# ---------------------------------------------------------------- dot-product and linear heads


@pytest.mark.parametrize("hidden_dim", [None, 7])
def test_dot_head_matches_formula_and_chunking(hidden_dim):
    features, mask = inputs()
    head = DotLabelAttentionHead(D, L, hidden_dim=hidden_dim, label_chunk_size=L).double().eval()
    torch.testing.assert_close(head(features, mask).logits, reference_dot(head, features, mask))
    x = features.clone().requires_grad_()
    head(x, mask).logits.square().sum().backward()
    full_grad = x.grad
    head.label_chunk_size, x.grad = 2, None
    output = head(x, mask, return_attention=True)
    logits, attention = output.logits, output.attention
    logits.square().sum().backward()
    torch.testing.assert_close(logits, reference_dot(head, features, mask))
    torch.testing.assert_close(x.grad, full_grad)
    torch.testing.assert_close(attention.sum(-1)[:2], torch.ones(2, L, dtype=x.dtype))


def test_dot_head_gradcheck_with_checkpointed_chunks():
    head = DotLabelAttentionHead(D, L, hidden_dim=4, label_chunk_size=2).double().eval()
    features, mask = inputs()
    assert torch.autograd.gradcheck(
        lambda x: head(x, mask).logits, (features.requires_grad_(),), fast_mode=True
    )


def test_linear_head_pooling():
    features, mask = inputs()
    expected_mean = torch.stack(
        [features[0].mean(0), features[1, :4].mean(0), torch.zeros(D, dtype=torch.double)]
    )
    expected_max = torch.stack(
        [features[0].amax(0), features[1, :4].amax(0), torch.zeros(D, dtype=torch.double)]
    )
    for pooling, pooled in (("mean", expected_mean), ("max", expected_max), ("cls", features[:, 0])):
        head = LinearHead(D, L, pooling=pooling).double().eval()
        torch.testing.assert_close(head(features, mask).logits, head.classifier(pooled))


def test_standardized_linear_head_scores_hand_standardised_features():
    features = torch.randn(4, T, D, dtype=torch.double)
    head = LinearHead(D, L, dropout=0.0, standardize=True).double().train()
    pooled = features.mean(1)
    by_hand = (pooled - pooled.mean(0)) / torch.sqrt(pooled.var(0, unbiased=False) + head.feature_norm.eps)
    torch.testing.assert_close(head(features).logits, head.classifier(by_hand))
    # In training the common direction every document shares is removed: shifting all of them changes nothing.
    shift = 10 * torch.randn(D, dtype=torch.double)
    torch.testing.assert_close(head(features + shift).logits, head.classifier(by_hand))


def test_standardized_linear_head_scores_each_document_alone_in_eval_and_for_a_batch_of_one():
    features = torch.randn(4, T, D)
    head = LinearHead(D, L, dropout=0.0, standardize=True)
    for _ in range(3):
        head.train()(features)  # updates the running statistics
    alone = head.train()(features[:1]).logits  # a batch of one in training uses the running statistics
    head.eval()
    together = head(features).logits
    torch.testing.assert_close(together[:1], head(features[:1]).logits)
    torch.testing.assert_close(alone, together[:1])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = head(features).logits
    torch.testing.assert_close(mixed.float(), together, atol=0.1, rtol=0.05)


def test_linear_head_bias_starts_at_the_label_log_prior_odds():
    targets = np.array([[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]])  # shares 1/4, 0 (-> 1/8), 1 (-> 7/8)
    head = LinearHead(D, 3, bias_init="prior")
    head.start_bias_at_prior(scipy.sparse.csr_matrix(targets))
    expected = torch.tensor([-np.log(3), -np.log(7), np.log(7)], dtype=torch.float32)
    torch.testing.assert_close(head.classifier.bias.data, expected)
    with pytest.raises(ValueError, match="train_targets"):
        head.start_bias_at_prior(np.ones((4, 2)))


def test_pipeline_starts_the_bias_at_the_prior_only_when_asked_and_given_targets():
    config = ModelConfig(head="linear", contrastive=None, head_kwargs={"bias_init": "prior"})
    targets = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
    classifier = TextClassifier.from_config(config, ["a", "b"], train_targets=targets)
    torch.testing.assert_close(
        classifier.model.head.classifier.bias.data, torch.tensor([np.log(3), -np.log(3)], dtype=torch.float32)
    )
    with pytest.raises(ValueError, match="train_targets"):
        TextClassifier.from_config(config, ["a", "b"])
    lan_config = ModelConfig(head="lan", contrastive=None, head_kwargs={"bias_init": "prior"})
    lan_head = TextClassifier.from_config(lan_config, ["a", "b"], train_targets=targets).model.head
    torch.testing.assert_close(lan_head.label_bias.data, torch.tensor([np.log(3), -np.log(3)]).float())
    standardized = {"shortlist_size": 1, "proposal_standardize": True}
    proposal_config = ModelConfig(head="lan", contrastive=None, head_kwargs=standardized)
    proposal = TextClassifier.from_config(
        proposal_config, ["a", "b"], train_targets=targets
    ).model.head.proposal
    torch.testing.assert_close(proposal.bias.data, torch.tensor([np.log(3), -np.log(3)]).float())
    with pytest.raises(ValueError, match="train_targets"):
        TextClassifier.from_config(proposal_config, ["a", "b"])


def test_masked_mean_pool_hand_computed():
    features = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    torch.testing.assert_close(masked_mean_pool(features, mask), torch.tensor([[2.0, 3.0], [0.0, 0.0]]))
    torch.testing.assert_close(masked_mean_pool(features), torch.tensor([[104 / 3, 106 / 3], [7.0, 8.0]]))


def test_the_three_heads_are_called_the_same_way():
    features, mask = inputs(torch.float32)
    for name in ("lan", "dot", "linear"):
        head = build_head(name, D, L)
        output = head(features, mask)
        with_attention = head.eval()(features, mask=mask, return_attention=True)
        assert isinstance(output, HeadOutput) and isinstance(with_attention, HeadOutput)
        assert output.logits.shape == with_attention.logits.shape == (B, L)
        assert output.attention is None  # a (B, L, T) map only when asked for
        if name == "linear":
            assert with_attention.attention is None
        else:
            assert with_attention.attention.shape == (B, L, T)


@pytest.mark.parametrize("name", ["lan", "dot", "linear"])
def test_asking_for_attention_never_changes_the_logits(name):
    torch.manual_seed(0)
    head = build_head(name, D, L).double().eval()
    features, mask = inputs()
    without = head(features, mask)
    with_attention = head(features, mask, return_attention=True)
    assert torch.equal(without.logits, with_attention.logits)


def test_shortlisted_lan_returns_attention_only_when_asked():
    torch.manual_seed(0)
    head = LabelAttentionHead(D, L, shortlist_size=2).double().eval()
    features, mask = inputs()
    assert head(features, mask).attention is None
    output = head(features, mask, return_attention=True)
    assert output.logits.shape == (B, L) and output.attention.shape == (B, L, T)
    # each document's 2 candidates attend (rows sum to 1 over real tokens); the others' rows are 0
    attending = output.attention.sum(-1)[:2]
    assert torch.equal((attending > 0).sum(-1), torch.tensor([2, 2]))
    torch.testing.assert_close(attending[attending > 0], torch.ones(4, dtype=attending.dtype))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda h: h(torch.randn(B, D)), "features"),
        (lambda h: h(torch.randn(B, T, D + 1)), "features"),
        (lambda h: h(torch.randn(B, T, D), torch.ones(B, T + 1)), "mask"),
        (lambda h: h(torch.randn(B, T, D), torch.ones(T)), "mask"),
    ],
)
@pytest.mark.parametrize("name", ["lan", "dot", "linear"])
def test_wrong_shapes_raise_value_error_naming_the_argument(name, call, word):
    with pytest.raises(ValueError, match=word):
        call(build_head(name, D, L))


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda: LabelAttentionHead(D, L, label_init=torch.randn(L + 1, 3)), "label_init"),
        (lambda: LabelAttentionHead(D, L, activation="swish"), "activation"),
        (lambda: LabelAttentionHead(D, L, label_chunk_size=0), "label_chunk_size"),
        (lambda: LabelAttentionHead(D, L, scoring="cosine"), "scoring"),
        (lambda: LabelAttentionHead(D, L, bias_init="mean"), "bias_init"),
        (lambda: label_token_scores(torch.randn(3, 4), torch.randn(2, 4), torch.randn(3, 4)), "v"),
        (lambda: label_token_scores(torch.randn(2, 3, 4), torch.randn(3, 2, 4), torch.randn(4)), "share a"),
        (
            lambda: label_token_scores(torch.randn(3, 4), torch.randn(2, 4), torch.randn(4), None, "cat"),
            "interaction",
        ),
        (lambda: DotLabelAttentionHead(D, 0), "num_labels"),
        (lambda: LinearHead(D, L, pooling="sum"), "pooling"),
        (lambda: LinearHead(D, L, bias_init="ones"), "bias_init"),
        (lambda: build_head("mlp", D, L), "lan"),
        (lambda: masked_mean_pool(torch.randn(B, D)), "features"),
    ],
)
def test_bad_configuration_raises_value_error(make, word):
    with pytest.raises(ValueError, match=word):
        make()
