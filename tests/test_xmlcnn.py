import pytest
import torch

from uclaf_plugin.encoders.xmlcnn import XMLCNN
from uclaf_plugin.heads import HeadOutput
from uclaf_plugin.heads.xmlcnn import XMLCNNHead, dynamic_max_pool

VOCAB, EMB, FILTERS, WIDTHS = 40, 8, 6, (2, 4, 8)


def encoder(**kwargs):
    settings = dict(
        vocab_size=VOCAB, embedding_dim=EMB, num_filters=FILTERS, filter_sizes=WIDTHS, dropout=0.0
    )
    return XMLCNN(**(settings | kwargs)).eval()


def batch(lengths, length):
    ids = torch.randint(1, VOCAB, (len(lengths), length))
    mask = (torch.arange(length) < torch.tensor(lengths).unsqueeze(1)).long()
    return ids * mask, mask


def pad_more(ids, mask, extra):
    return torch.nn.functional.pad(ids, (0, extra)), torch.nn.functional.pad(mask, (0, extra))


def reference_pool(features, mask, chunks):
    """Slow dynamic max pooling: chunk j of n real tokens holds ranks [ceil(j*n/c), ceil((j+1)*n/c))."""
    out = torch.zeros(features.shape[0], chunks, features.shape[2])
    for b in range(features.shape[0]):
        real = features[b][mask[b]]
        n = real.shape[0]
        for j in range(chunks):
            start, end = -(-j * n // chunks), -(-(j + 1) * n // chunks)
            if end > start:
                out[b, j] = real[start:end].max(0).values
    return out


def test_shapes_mask_and_output_dim():
    model = encoder()
    ids, mask = batch([5, 9, 0], 9)
    features, out_mask = model(ids, mask)
    assert model.output_dim == len(WIDTHS) * FILTERS
    assert features.shape == (3, 9, model.output_dim)
    assert out_mask.dtype == torch.bool and torch.equal(out_mask, mask.bool())


def test_each_filter_map_is_centred_on_its_token():
    model = encoder()
    ids, mask = batch([20], 20)
    changed_ids = ids.clone()
    j = 10
    changed_ids[0, j] = (ids[0, j] % (VOCAB - 1)) + 1
    before, after = model(ids, mask)[0][0], model(changed_ids, mask)[0][0]
    for i, width in enumerate(WIDTHS):
        block = slice(i * FILTERS, (i + 1) * FILTERS)
        moved = (before[:, block] != after[:, block]).any(1).nonzero().flatten().tolist()
        # "same" padding: output t sees tokens t-(k-1)//2 .. t+k//2, so token j reaches [j-k//2, j+(k-1)//2]
        assert j in moved
        assert set(moved) <= set(range(j - width // 2, j + (width - 1) // 2 + 1))


def test_padding_changes_nothing_and_is_zero():
    model, head = encoder(), XMLCNNHead(len(WIDTHS) * FILTERS, 5, pool_chunks=3, dropout=0.0).eval()
    ids, mask = batch([4, 7], 7)
    features, out_mask = model(ids, mask)
    padded_features, padded_mask = model(*pad_more(ids, mask, 6))
    torch.testing.assert_close(padded_features[:, :7], features)
    assert (padded_features[~padded_mask] == 0).all()
    torch.testing.assert_close(head(padded_features, padded_mask).logits, head(features, out_mask).logits)
    mean = (features * out_mask.unsqueeze(-1)).sum(1) / out_mask.sum(1, keepdim=True)
    padded_mean = (padded_features * padded_mask.unsqueeze(-1)).sum(1) / padded_mask.sum(1, keepdim=True)
    torch.testing.assert_close(padded_mean, mean)


def test_empty_documents_give_finite_outputs_and_gradients():
    model = XMLCNN(vocab_size=VOCAB, embedding_dim=EMB, num_filters=FILTERS, filter_sizes=WIDTHS)
    head = XMLCNNHead(model.output_dim, 4, pool_chunks=4)
    ids, mask = batch([0, 3], 6)
    features, out_mask = model(ids, mask)
    logits = head(features, out_mask).logits
    assert (features[0] == 0).all() and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in [*model.parameters(), *head.parameters()])


def test_embedding_weights_initialise_a_trainable_copy():
    weights = torch.randn(17, 5)
    model = XMLCNN(vocab_size=VOCAB, embedding_dim=EMB, num_filters=3, embedding_weights=weights)
    assert torch.equal(model.embedding.weight, weights)
    assert model.embedding.weight.requires_grad
    assert model.embedding.weight.data_ptr() != weights.data_ptr()
    assert model.convs[0].in_channels == 5
    features, _ = model(torch.tensor([[16, 3, 0, 0]]), torch.tensor([[1, 1, 0, 0]]))
    assert features.shape == (1, 4, 3 * 3)


def test_dynamic_max_pool_hand_computed():
    values = torch.tensor([[-5.0, -1.0, -3.0, -2.0, 9.0, 9.0]]).unsqueeze(-1)
    mask = torch.tensor([[True, True, True, True, False, False]])
    assert dynamic_max_pool(values, mask, 2).flatten().tolist() == [-1.0, -2.0]
    assert dynamic_max_pool(values, mask, 8).flatten().tolist() == [-5.0, 0, -1.0, 0, -3.0, 0, -2.0, 0]


def test_dynamic_max_pool_matches_slow_reference():
    features = torch.randn(6, 23, 4)
    mask = torch.rand(6, 23) < 0.7
    mask[0] = False
    mask[1] = True
    for chunks in (1, 3, 8, 30):
        torch.testing.assert_close(
            dynamic_max_pool(features, mask, chunks), reference_pool(features, mask, chunks)
        )


def test_head_without_mask_uses_every_position():
    head = XMLCNNHead(4, 3, pool_chunks=2, dropout=0.0).eval()
    features = torch.randn(2, 5, 4)
    torch.testing.assert_close(
        head(features).logits, head(features, torch.ones(2, 5, dtype=torch.bool)).logits
    )


def test_head_has_no_attention_and_rejects_bad_features():
    head = XMLCNNHead(4, 3, dropout=0.0).eval()
    features = torch.randn(2, 5, 4)
    output, asked = head(features), head(features, return_attention=True)
    assert isinstance(output, HeadOutput) and output.logits.shape == (2, 3)
    assert output.attention is None and asked.attention is None
    assert torch.equal(asked.logits, output.logits)
    with pytest.raises(ValueError, match="features"):
        head(torch.randn(2, 5, 7))


def test_encoder_rejects_mismatched_mask():
    with pytest.raises(ValueError, match="attention_mask"):
        encoder()(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 4))


def test_learns_a_separable_problem():
    # Label k is present exactly when token k+1 occurs in the document.
    docs = torch.randint(10, VOCAB, (64, 12))
    targets = torch.rand(64, 3) < 0.4
    for k in range(3):
        docs[targets[:, k], 2 * k + 1] = k + 1
    mask = torch.ones_like(docs)
    model = XMLCNN(vocab_size=VOCAB, embedding_dim=16, num_filters=8, dropout=0.1)
    head = XMLCNNHead(model.output_dim, 3, pool_chunks=2, bottleneck_dim=32, dropout=0.1)
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            head(*model(docs, mask)).logits, targets.float()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
