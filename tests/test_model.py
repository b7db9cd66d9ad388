import copy

import pytest
import torch

from uclaf_plugin import contrastive as contrastive_module
from uclaf_plugin.encoders.attentionxml import AttentionXMLStyle
from uclaf_plugin.encoders.xmlcnn import XMLCNN
from uclaf_plugin.heads import HeadOutput
from uclaf_plugin.model import UCLAF, UCLAFOutput, resolve_key_precision
from uclaf_plugin.pipeline import pad_batch

HEAD_KWARGS = {
    "lan": {"attention_dim": 32},
    "dot": {"hidden_dim": 32},
    "linear": {},
    "xmlcnn": {"bottleneck_dim": 32},
}


def _batch(corpus, tokenizer, size=16, max_length=32):
    split = corpus.train
    ids = tokenizer(list(split.texts[:size]), truncation=True, max_length=max_length)["input_ids"]
    input_ids, mask = pad_batch(ids, tokenizer.pad_token_id)
    targets = torch.from_numpy(corpus.binarize(split.labels[:size]).toarray()).float()
    return input_ids, mask, targets


def _encoder(name, minilm):
    if name == "minilm":
        return minilm
    if name == "xmlcnn":
        return XMLCNN(embedding_dim=32, num_filters=16)
    return AttentionXMLStyle(embedding_dim=32, hidden_size=16)


def _model(encoder, num_labels, tokenizer, head="lan", contrastive="per_label", queue_size=32, **kwargs):
    return UCLAF(
        encoder,
        num_labels,
        head=head,
        contrastive=contrastive,
        queue_size=queue_size,
        mask_token_id=tokenizer.mask_token_id,
        special_token_ids=tuple(tokenizer.all_special_ids),
        head_kwargs=HEAD_KWARGS[head],
        **kwargs,
    )


@pytest.mark.parametrize("contrastive", [None, "per_label"])
@pytest.mark.parametrize("head", ["lan", "linear", "dot", "xmlcnn"])
@pytest.mark.parametrize("encoder_name", ["minilm", "xmlcnn", "attentionxml"])
def test_every_combination_learns(encoder_name, head, contrastive, minilm, tokenizer, easy_corpus):
    """A few steps on one batch lower the loss. No queue here: a filling queue changes the loss's reference set."""
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=8, max_length=24)
    encoder = _encoder(encoder_name, minilm)
    model = _model(encoder, targets.shape[1], tokenizer, head, contrastive, queue_size=0, temperature=0.5)
    encoder_lr = 1e-4 if encoder_name == "minilm" else 3e-3
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for n, p in model.named_parameters() if n.startswith("encoder.")],
                "lr": encoder_lr,
            },
            {
                "params": [
                    p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad
                ]
            },
        ],
        lr=3e-3,
    )
    losses = []
    for _ in range(6):
        loss = model(input_ids, mask, labels=targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) / 2 < losses[0]


def test_keys_enter_the_queue_with_their_labels(tokenizer, easy_corpus):
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=6)
    model = _model(XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, head="linear")
    model(input_ids, mask, labels=targets)
    queue = model.momentum_contrast.queue
    assert len(queue.embeddings) == 6
    assert torch.equal(queue.labels.float(), targets)
    assert torch.allclose(queue.embeddings.norm(dim=1), torch.ones(6), atol=1e-5)


def test_each_training_forward_takes_the_key_encoders_ema_step(tokenizer, easy_corpus):
    """MoCo's order: the key branch steps towards the query branch at the start of the forward, then encodes."""
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=6)
    model = _model(
        XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, head="linear", momentum=0.75
    )
    branch = model.momentum_contrast
    model(
        input_ids, mask, labels=targets
    )  # the first step copies (the key branch is the query's copy anyway)
    key_before = copy.deepcopy(branch.key_encoder.state_dict())
    projection_before = copy.deepcopy(branch.key_projection.state_dict())
    with torch.no_grad():
        for parameter in [*model.encoder.parameters(), *branch.projection.parameters()]:
            parameter.add_(1.0)  # what an optimizer step does to the query branch
    model.eval()(input_ids, mask)  # inference leaves the key branch alone
    assert all(torch.equal(v, key_before[k]) for k, v in branch.key_encoder.state_dict().items())
    model.train()(input_ids, mask, labels=targets)
    for key, query, before in (
        (branch.key_encoder, model.encoder, key_before),
        (branch.key_projection, branch.projection, projection_before),
    ):
        for name, value in key.state_dict().items():
            if value.is_floating_point():
                expected = 0.75 * before[name] + 0.25 * query.state_dict()[name]
                assert torch.allclose(value, expected, atol=1e-6), name
    assert all(not p.requires_grad for p in branch.key_encoder.parameters())


def test_training_equals_the_hand_written_moco_loop(tokenizer, easy_corpus):
    """UCLAF's loss over steps equals BCE + λ·CACL computed by hand, with the EMA after each optimizer step."""
    from uclaf_plugin.heads import masked_mean_pool
    from uclaf_plugin.losses import CACLLoss
    from uclaf_plugin.memory import momentum_update

    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=8)
    torch.manual_seed(0)
    model = _model(
        XMLCNN(embedding_dim=16, num_filters=8),
        targets.shape[1],
        tokenizer,
        "linear",
        queue_size=0,
        key_precision="fp32",  # the hand-written keys are fp32
        temperature=0.1,  # the hand-written CACLLoss's
    )
    model.momentum_contrast.momentum, model.lambda_ = 0.5, 0.3
    reference = copy.deepcopy(model)  # its branch's modules, driven by hand below
    branch = reference.momentum_contrast
    optimizers = [
        torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5) for m in (model, reference)
    ]
    cacl = CACLLoss(temperature=0.1)
    for _ in range(3):
        torch.manual_seed(1)
        loss = model(input_ids, mask, labels=targets).loss
        torch.manual_seed(1)
        features, feature_mask = reference.encoder(input_ids, mask)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            reference.head(features, feature_mask).logits, targets
        )
        queries = torch.nn.functional.normalize(
            branch.projection(masked_mean_pool(features, feature_mask)), dim=-1
        )
        with torch.no_grad():
            key_features, key_mask = branch.key_encoder(input_ids, mask)
            keys = torch.nn.functional.normalize(
                branch.key_projection(masked_mean_pool(key_features, key_mask)), dim=-1
            )
        expected = bce + 0.3 * cacl(queries, targets, ref_emb=keys, ref_labels=targets)
        torch.testing.assert_close(loss, expected)
        for optimizer, value in zip(optimizers, (loss, expected), strict=True):
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
        momentum_update(branch.key_encoder, reference.encoder, 0.5)
        momentum_update(branch.key_projection, branch.projection, 0.5)


def test_a_registered_positive_definition_trains_uclaf(tokenizer, easy_corpus):
    from uclaf_plugin.positives import POSITIVES, any_label, register_positive

    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=6)
    register_positive("test_any_copy", lambda labels, refs: any_label(labels, refs))
    try:
        torch.manual_seed(0)
        mine = _model(
            XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, "linear", "test_any_copy"
        )
        torch.manual_seed(0)
        builtin = _model(
            XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, "linear", "any"
        )
        torch.manual_seed(2)
        output = mine(input_ids, mask, labels=targets)
        torch.manual_seed(2)
        torch.testing.assert_close(output.loss, builtin(input_ids, mask, labels=targets).loss)
        assert output.contrastive > 0
    finally:
        del POSITIVES["test_any_copy"]


def test_weights_saved_before_the_branch_module_still_load(tokenizer, easy_corpus):
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=4)
    model = _model(XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, "linear")
    model(input_ids, mask, labels=targets)
    legacy = {k.replace("momentum_contrast.", ""): v for k, v in model.state_dict().items()}
    del legacy["keys_synced"]  # weights saved before this module had no such buffer
    fresh = _model(XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, "linear")
    fresh.load_state_dict(legacy)
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name


def test_inference_uses_only_the_query_branch(tokenizer, easy_corpus):
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=4)
    model = _model(XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer).eval()
    before = model(input_ids, mask).logits
    with torch.no_grad():
        branch = model.momentum_contrast
        for parameter in [*branch.key_encoder.parameters(), *branch.key_projection.parameters()]:
            parameter.normal_()
    assert torch.equal(model(input_ids, mask).logits, before)


def test_plain_bce_baseline_matches_torch_bce(tokenizer, easy_corpus):
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=4)
    model = _model(
        XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, "linear", None
    ).eval()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(model(input_ids, mask).logits, targets)
    output = model(input_ids, mask, labels=targets)
    assert output.contrastive is None
    assert torch.allclose(output.loss, expected)


@pytest.mark.parametrize("head", ["lan", "dot", "linear", "xmlcnn"])
def test_inference_output_is_the_heads_output_on_the_same_features(head, tokenizer, easy_corpus):
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=4)
    torch.manual_seed(0)
    model = _model(XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, head).eval()
    with torch.no_grad():
        features, feature_mask = model.encoder(input_ids, mask)
        expected = model.head(features, feature_mask, return_attention=True)
        plain, with_attention = model(input_ids, mask), model(input_ids, mask, return_attention=True)
    assert isinstance(plain, UCLAFOutput) and isinstance(expected, HeadOutput)
    assert plain.logits.shape == (4, targets.shape[1])
    assert torch.equal(plain.logits, expected.logits) and torch.equal(with_attention.logits, expected.logits)
    assert plain.attention is None  # a (B, L, T) map only when asked for
    if head in ("lan", "dot"):
        assert with_attention.attention.shape == (4, targets.shape[1], input_ids.shape[1])
        assert torch.equal(with_attention.attention, expected.attention)
    else:
        assert with_attention.attention is None
    assert (plain.loss, plain.bce, plain.contrastive) == (None, None, None)


@pytest.mark.parametrize("contrastive", [None, "per_label"])
@pytest.mark.parametrize("head", ["lan", "linear"])
def test_training_output_carries_the_loss_as_bce_plus_lambda_cacl(head, contrastive, tokenizer, easy_corpus):
    """loss = bce + λ·contrastive (paper eq. 12); the logits come along where BCE was computed on them."""
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=6)
    torch.manual_seed(0)
    model = _model(XMLCNN(embedding_dim=16, num_filters=8), targets.shape[1], tokenizer, head, contrastive)
    model.lambda_ = 0.3
    model.encoder.dropout.p = 0.0  # the head's logits below on the same features as the training forward
    model.head.dropout.p = 0.0
    output = model(input_ids, mask, labels=targets)
    assert isinstance(output, UCLAFOutput) and output.attention is None
    assert output.loss.requires_grad and not output.bce.requires_grad
    if contrastive is None:
        assert output.contrastive is None
        assert torch.equal(output.loss.detach(), output.bce)
        assert list(output.losses()) == ["loss", "bce"]
    else:
        assert not output.contrastive.requires_grad and output.contrastive > 0
        torch.testing.assert_close(
            output.loss.detach(), output.bce + 0.3 * output.contrastive, rtol=0, atol=1e-6
        )
        assert list(output.losses()) == ["loss", "bce", "contrastive"]
    if head == "lan":  # LAN computes its own training loss (head.loss): no separate logits pass
        assert output.logits is None
        return
    with torch.no_grad():
        features, feature_mask = model.encoder(input_ids, mask)
        expected = model.head(features, feature_mask).logits
    torch.testing.assert_close(output.logits.detach(), expected, rtol=0, atol=0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(expected, targets)
    torch.testing.assert_close(output.bce, bce)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"contrastive": "some"}, "contrastive"),
        ({"augment": "rotate"}, "augment"),
        ({"momentum": 1.5}, "momentum"),
        ({"head": "tree"}, "tree"),
        ({"key_precision": "fp16"}, "key_precision"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UCLAF(XMLCNN(embedding_dim=8, num_filters=4), 3, mask_token_id=103, **kwargs)


def test_bf16_keys_stay_close_to_fp32_keys_and_leave_the_query_branch_alone(minilm, tokenizer, easy_corpus):
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=4, max_length=24)
    fp32 = _model(minilm, targets.shape[1], tokenizer, key_precision="fp32").eval()
    bf16 = copy.deepcopy(fp32)
    bf16.key_precision = "bf16"
    fp32_keys = fp32.momentum_contrast.encode_keys(input_ids, mask)
    bf16_keys = bf16.momentum_contrast.encode_keys(input_ids, mask)
    assert bf16_keys.dtype == torch.float32 and not torch.equal(bf16_keys, fp32_keys)  # bf16 was really used
    assert torch.nn.functional.cosine_similarity(bf16_keys, fp32_keys).min() > 0.99
    assert torch.equal(bf16(input_ids, mask).logits, fp32(input_ids, mask).logits)


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_key_precision_computes_bf16_keys_exactly_where_the_cpu_has_native_bf16(
    native_bf16, monkeypatch, minilm, tokenizer, easy_corpus
):
    monkeypatch.setattr(contrastive_module, "native_cpu_bf16", lambda: native_bf16)
    input_ids, mask, targets = _batch(easy_corpus, tokenizer, size=4, max_length=24)
    auto = _model(minilm, targets.shape[1], tokenizer).eval()
    assert auto.key_precision == "auto"
    expected = copy.deepcopy(auto)
    expected.key_precision = "bf16" if native_bf16 else "fp32"
    keys = auto.momentum_contrast.encode_keys(input_ids, mask)
    assert torch.equal(keys, expected.momentum_contrast.encode_keys(input_ids, mask))


def test_auto_key_precision_leaves_cuda_and_explicit_choices_alone(monkeypatch):
    monkeypatch.setattr(contrastive_module, "native_cpu_bf16", lambda: True)
    assert resolve_key_precision("auto", "cpu") == "bf16"
    assert resolve_key_precision("auto", "cuda") == "fp32"  # the step's own autocast decides there
    assert [resolve_key_precision(p, "cpu") for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    monkeypatch.setattr(contrastive_module, "native_cpu_bf16", lambda: False)
    assert resolve_key_precision("auto", "cpu") == "fp32"
