"""Sparse multi-hot labels (torch COO/CSR, scipy CSR) give what the dense path gives: loss, gradients, queue, BCE."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from uclaf_plugin.data import batches as batches_module
from uclaf_plugin.encoders.xmlcnn import XMLCNN
from uclaf_plugin.losses import CACLLoss, cacl_loss
from uclaf_plugin.memory import MultiLabelQueue
from uclaf_plugin.model import UCLAF
from uclaf_plugin.positives import POSITIVES, register_positive
from uclaf_plugin.sparse_labels import (
    compact_label_columns,
    csr_to_torch,
    ids_to_sparse,
    multi_hot_bce,
    padded_label_ids,
)
from uclaf_plugin.text_trainer import TextTrainer
from uclaf_plugin.train import TrainConfig

MODES = ["per_label", "any", "all", "jaccard", "size_weighted"]
LAYOUTS = {"coo": lambda t: t.to_sparse_coo(), "csr": lambda t: t.to_sparse_csr(), "dense": lambda t: t}


def _size_weighted(labels, ref_labels):
    """A registered set-based definition: weight |Y ∩ R| / |R| (needs the full reference set sizes)."""
    inter = labels.float() @ ref_labels.float().T
    return inter / ref_labels.sum(dim=1).clamp(min=1)


@pytest.fixture(autouse=True, scope="module")
def _registered():
    register_positive("size_weighted", _size_weighted)
    yield
    POSITIVES.pop("size_weighted")


def _wide_labels(rows, num_labels, generator, per_row=3):
    """Multi-hot rows over a wide label space with a small shared pool, so anchors and references overlap."""
    pool = torch.randperm(num_labels, generator=generator)[:12]
    labels = torch.zeros(rows, num_labels)
    for row in range(rows):
        labels[row, pool[torch.randperm(12, generator=generator)[:per_row]]] = 1
    labels[0] = 0  # an anchor without labels
    return labels


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(3)
    labels, ref_labels = _wide_labels(6, 500, g, 2), _wide_labels(10, 500, g)
    ref_labels[2] = labels[3]  # an identical label set, so that "all" has a positive
    ref_labels[4, 499] = 1  # a label no anchor has: changes |R_a|, must not be dropped for jaccard
    emb = torch.randn(6, 5, dtype=torch.float64, generator=g)
    return emb, labels, torch.randn(10, 5, dtype=torch.float64, generator=g), ref_labels


def _loss_and_grad(loss_fn, emb, *args, **kwargs):
    x = emb.clone().requires_grad_()
    loss = loss_fn(x, *args, **kwargs)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


@pytest.mark.parametrize("positives", MODES)
@pytest.mark.parametrize(("anchor_layout", "ref_layout"), [("coo", "coo"), ("csr", "csr"), ("csr", "dense")])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sparse_labels_give_the_dense_loss_and_gradient(
    data, positives, anchor_layout, ref_layout, reduction
):
    emb, labels, ref, ref_labels = data
    loss = CACLLoss(0.2, positives=positives, label_reduction=reduction)
    dense = _loss_and_grad(loss, emb, labels, ref_emb=ref, ref_labels=ref_labels)
    sparse = _loss_and_grad(
        loss, emb, LAYOUTS[anchor_layout](labels), ref_emb=ref, ref_labels=LAYOUTS[ref_layout](ref_labels)
    )
    assert dense[0] > 0
    torch.testing.assert_close(sparse, dense)


@pytest.mark.parametrize("positives", MODES)
def test_sparse_batch_against_itself_gives_the_dense_loss(data, positives):
    emb, labels, _, _ = data
    dense = _loss_and_grad(cacl_loss, emb, labels, positives=positives)
    sparse = _loss_and_grad(cacl_loss, emb, labels.to_sparse_csr(), positives=positives)
    torch.testing.assert_close(sparse, dense)


def test_compaction_keeps_only_the_columns_some_row_has():
    labels = torch.zeros(2, 9)
    labels[0, [7, 2]] = labels[1, 5] = 1
    ref_labels = torch.zeros(3, 9)
    ref_labels[0, [2, 8]] = ref_labels[2, 5] = 1
    anchors, refs = compact_label_columns(labels.to_sparse(), ref_labels.to_sparse())  # columns 2, 5, 7, 8
    assert anchors.tolist() == [[True, False, True, False], [False, True, False, False]]
    assert refs.tolist() == [[True, False, False, True], [False] * 4, [False, True, False, False]]
    anchors, refs = compact_label_columns(
        labels.to_sparse(), ref_labels.to_sparse(), anchor_columns_only=True
    )
    assert refs.tolist() == [[True, False, False], [False] * 3, [False, True, False]]  # columns 2, 5, 7


def test_sparse_labels_with_other_values_are_rejected(data):
    emb, labels, ref, ref_labels = data
    with pytest.raises(ValueError, match="ref_labels must be multi-hot"):
        cacl_loss(emb, labels.to_sparse(), ref, (2 * ref_labels).to_sparse())
    with pytest.raises(ValueError, match="labels is sparse with shape"):
        cacl_loss(emb, labels[:3].to_sparse(), ref, ref_labels)


def test_sparse_bce_equals_the_dense_bce_and_its_gradient():
    g = torch.Generator().manual_seed(0)
    logits = (10 * torch.randn(4, 300, generator=g, dtype=torch.float64)).requires_grad_()
    targets = (torch.rand(4, 300, generator=g) < 0.02).double()
    dense = F.binary_cross_entropy_with_logits(logits, targets)
    (dense_grad,) = torch.autograd.grad(dense, logits)
    for layout in ("coo", "csr"):
        sparse = multi_hot_bce(logits, LAYOUTS[layout](targets))
        (sparse_grad,) = torch.autograd.grad(sparse, logits)
        torch.testing.assert_close((sparse, sparse_grad), (dense, dense_grad))


def test_label_ids_round_trip_and_scipy_conversion():
    matrix = sp.random(7, 40, density=0.1, format="csr", random_state=0)
    matrix.data[:] = 1
    tensor = csr_to_torch(matrix)
    assert np.array_equal(tensor.to_dense().numpy(), matrix.toarray())
    ids = padded_label_ids(tensor)
    assert ids.shape == (7, int(np.diff(matrix.indptr).max()))
    assert np.array_equal(ids_to_sparse(ids, 40).to_dense().numpy(), matrix.toarray() > 0)


def _random_rows(start, count, num_labels, g):
    keys = torch.arange(start, start + count).float()[:, None].expand(count, 3).clone()
    return keys, (torch.rand(count, num_labels, generator=g) < 0.15).float()


def test_sparse_queue_holds_what_the_dense_queue_holds():
    g = torch.Generator().manual_seed(1)
    dense, sparse = (MultiLabelQueue(5, 3, 30, label_storage=s) for s in ("dense", "sparse"))
    for start, count in ((0, 3), (3, 4), (7, 1), (8, 9)):
        keys, labels = _random_rows(start, count, 30, g)
        assert torch.equal(dense.enqueue(keys, labels), sparse.enqueue(keys, labels.to_sparse_csr()))
        assert torch.equal(sparse.embeddings, dense.embeddings)
        assert torch.equal(sparse.labels.to_dense(), dense.labels)
    restored = MultiLabelQueue(5, 3, 30, label_storage="sparse")
    restored.load_state_dict(sparse.state_dict())  # its label-id buffer has grown past the initial width
    assert torch.equal(restored.labels.to_dense(), dense.labels)


def test_queue_storage_auto_goes_sparse_for_large_label_spaces():
    assert not MultiLabelQueue(512, 8, 4_000).sparse_labels
    queue = MultiLabelQueue(4096, 8, 670_000)
    assert queue.sparse_labels and queue.key_label_ids.numel() == 4096


def _tiny_uclaf(num_labels, queue_storage):
    torch.manual_seed(0)
    model = UCLAF(
        XMLCNN(vocab_size=50, embedding_dim=8, num_filters=4), num_labels, head="linear", queue_size=8
    )
    model.momentum_contrast.queue = MultiLabelQueue(8, 128, num_labels, label_storage=queue_storage)
    return model


def test_uclaf_training_loss_with_sparse_labels_equals_dense():
    g = torch.Generator().manual_seed(2)
    dense_model = _tiny_uclaf(200, "dense")
    sparse_model = copy.deepcopy(dense_model)
    sparse_model.momentum_contrast.queue = MultiLabelQueue(8, 128, 200, label_storage="sparse")
    for _ in range(3):  # the queue fills and wraps
        input_ids, mask = torch.randint(1, 50, (4, 12), generator=g), torch.ones(4, 12, dtype=torch.long)
        labels = (torch.rand(4, 200, generator=g) < 0.05).float()
        labels[:, 0] = 1
        results = []
        for model, batch_labels in ((dense_model, labels), (sparse_model, labels.to_sparse_csr())):
            torch.manual_seed(5)  # the same dropout in both
            output = model(input_ids, mask, labels=batch_labels)
            grads = torch.autograd.grad(output.loss, list(model.head.parameters()))
            results.append((output.bce, output.contrastive, *grads))
        torch.testing.assert_close(results[1], results[0])


def test_trainer_sends_sparse_label_batches_from_the_threshold(monkeypatch):
    matrix = sp.csr_matrix(np.eye(3, 6, k=1, dtype=np.float32))
    assert batches_module.label_batch(matrix).layout == torch.strided
    monkeypatch.setattr(batches_module, "SPARSE_LABELS_FROM", 6)
    batch = batches_module.label_batch(matrix)
    assert batch.layout == torch.sparse_csr and np.array_equal(batch.to_dense().numpy(), matrix.toarray())


def test_trainer_fit_with_sparse_batches_equals_dense(easy_corpus, monkeypatch):
    from uclaf_plugin.pipeline import ModelConfig, TextClassifier
    from uclaf_plugin.train import seed_everything

    texts, targets = list(easy_corpus.train.texts[:96]), easy_corpus.binarize(easy_corpus.train.labels[:96])
    config = ModelConfig(
        encoder="xmlcnn",
        head="linear",
        max_length=16,
        init_embeddings=False,
        encoder_kwargs={"embedding_dim": 16, "num_filters": 8},
        queue_size=32,
    )
    settings = TrainConfig(epochs=1, batch_size=16, quiet=True, device="cpu", lr=1e-3)
    weights = []
    for threshold in (10**9, 1):
        monkeypatch.setattr(batches_module, "SPARSE_LABELS_FROM", threshold)
        seed_everything(0)
        classifier = TextClassifier.from_config(config, easy_corpus.label_names)
        TextTrainer(classifier, settings).fit(texts, targets)
        weights.append(classifier.model.head.state_dict())
    for name, value in weights[0].items():
        torch.testing.assert_close(weights[1][name], value)


def test_evaluate_on_sparse_targets_in_small_blocks_matches_a_dense_computation(monkeypatch):
    from uclaf_plugin import metrics

    rng = np.random.default_rng(0)
    scores = rng.random((30, 400))
    targets = sp.random(30, 400, density=0.02, format="csr", random_state=1)
    targets.data[:] = 1
    monkeypatch.setattr(metrics, "BLOCK_SCORES", 1000)  # blocks of 2 rows
    result = metrics.evaluate(scores, targets, threshold=0.9)
    truth = targets.toarray() > 0
    labelled = truth.any(axis=1)
    top = np.argsort(-scores, axis=1)[labelled]
    for k in (1, 3, 5):
        hits = np.take_along_axis(truth[labelled], top[:, :k], axis=1)
        assert result[f"P@{k}"] == pytest.approx(hits.sum(axis=1).mean() / k)
    predicted = scores[labelled] >= 0.9
    micro = 2 * (predicted & truth[labelled]).sum() / (predicted.sum() + truth.sum())
    assert result["micro-F1"] == pytest.approx(micro) and result["n_skipped"] == (~labelled).sum()
