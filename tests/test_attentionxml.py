import pytest
import torch

from uclaf_plugin.encoders.attentionxml import AttentionXMLStyle

VOCAB, EMB, HIDDEN = 40, 8, 5


def encoder(**kwargs):
    settings = dict(vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HIDDEN, dropout=0.0)
    return AttentionXMLStyle(**(settings | kwargs)).eval()


def batch(lengths, length):
    ids = torch.randint(1, VOCAB, (len(lengths), length))
    mask = (torch.arange(length) < torch.tensor(lengths).unsqueeze(1)).long()
    return ids * mask, mask


def masked_mean(features, mask):
    return (features * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)


def test_shapes_mask_and_output_dim():
    model = encoder()
    ids, mask = batch([5, 9, 0], 9)
    features, out_mask = model(ids, mask)
    assert model.output_dim == 2 * HIDDEN
    assert features.shape == (3, 9, 2 * HIDDEN)
    assert out_mask.dtype == torch.bool and torch.equal(out_mask, mask.bool())


@pytest.mark.parametrize("num_layers", [1, 2])
def test_matches_an_unpadded_bilstm_run_per_document(num_layers):
    model = encoder(num_layers=num_layers)
    ids, mask = batch([3, 8, 1, 6], 8)
    features, _ = model(ids, mask)
    with torch.no_grad():
        for row, n in enumerate(mask.sum(1).tolist()):
            expected, _ = model.lstm(model.embedding(ids[row : row + 1, :n]))
            torch.testing.assert_close(features[row : row + 1, :n], expected)


def test_padding_changes_nothing_and_is_zero():
    model = encoder()
    ids, mask = batch([4, 7], 7)
    features, out_mask = model(ids, mask)
    padded = torch.nn.functional.pad(ids, (0, 5)), torch.nn.functional.pad(mask, (0, 5))
    padded_features, padded_mask = model(*padded)
    torch.testing.assert_close(padded_features[:, :7], features)
    assert (padded_features[~padded_mask] == 0).all()
    torch.testing.assert_close(masked_mean(padded_features, padded_mask), masked_mean(features, out_mask))


def test_empty_documents_give_finite_zero_features_and_gradients():
    model = AttentionXMLStyle(vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HIDDEN)
    ids, mask = batch([0, 3, 0], 5)
    features, _ = model(ids, mask)
    assert torch.isfinite(features).all() and (features[0] == 0).all() and (features[2] == 0).all()
    features.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_left_padding_is_rejected():
    ids = torch.tensor([[0, 0, 5, 6]])
    with pytest.raises(ValueError, match="right-padded"):
        encoder()(ids, (ids != 0).long())


def test_embedding_weights_initialise_a_trainable_copy():
    weights = torch.randn(17, 6)
    model = AttentionXMLStyle(
        vocab_size=VOCAB, embedding_dim=EMB, hidden_size=HIDDEN, embedding_weights=weights
    )
    assert torch.equal(model.embedding.weight, weights)
    assert model.embedding.weight.requires_grad
    assert model.embedding.weight.data_ptr() != weights.data_ptr()
    assert model.lstm.input_size == 6
    features, _ = model(torch.tensor([[16, 3, 0]]), torch.tensor([[1, 1, 0]]))
    assert features.shape == (1, 3, 2 * HIDDEN)


def test_learns_a_separable_problem():
    # Label k is present exactly when token k+1 occurs in the document; variable lengths exercise packing.
    docs = torch.randint(10, VOCAB, (48, 10))
    targets = torch.rand(48, 3) < 0.4
    for k in range(3):
        docs[targets[:, k], k] = k + 1
    lengths = torch.randint(4, 11, (48,))
    mask = (torch.arange(10) < lengths.unsqueeze(1)).long()
    model = AttentionXMLStyle(vocab_size=VOCAB, embedding_dim=16, hidden_size=16, dropout=0.1)
    classifier = torch.nn.Linear(model.output_dim, 3)
    optimizer = torch.optim.Adam([*model.parameters(), *classifier.parameters()], lr=2e-2)
    losses = []
    for _ in range(40):
        features, out_mask = model(docs * mask, mask)
        logits = classifier(masked_mean(features, out_mask))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_frozen_embeddings_get_no_gradient_and_stay_put():
    weights = torch.randn(VOCAB, EMB)
    model = encoder(embedding_weights=weights, freeze_embeddings=True).train()
    ids, mask = batch([4, 6], 6)
    features, _ = model(ids, mask)
    features.sum().backward()
    assert model.embedding.weight.grad is None and torch.equal(model.embedding.weight, weights)
    assert model.lstm.weight_ih_l0.grad is not None


def test_output_dropout_is_identity_in_eval_and_keeps_padding_zero_in_training():
    torch.manual_seed(1)
    plain = encoder()
    dropped = encoder(output_dropout=0.5)
    dropped.load_state_dict(plain.state_dict())
    ids, mask = batch([3, 7], 7)
    assert torch.equal(plain(ids, mask)[0], dropped(ids, mask)[0])
    features, out_mask = dropped.train()(ids, mask)
    real = features[out_mask]
    assert (features[~out_mask] == 0).all()
    assert 0.3 < (real == 0).float().mean() < 0.7  # about half the real features dropped
