"""CACLLoss / cacl_loss against a slow loop implementation of eq. 11, PML's SupConLoss, and properties."""

import math
import socket

import pytest
import torch
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning.losses import SupConLoss
from pytorch_metric_learning.reducers import ThresholdReducer
from pytorch_metric_learning.regularizers import LpRegularizer
from pytorch_metric_learning.utils.distributed import DistributedLossWrapper

from uclaf_plugin.losses import CACLLoss, cacl_loss, cacl_per_anchor

MODES = ["per_label", "any", "all", "jaccard"]


def _label_sets(labels):
    if labels.ndim == 1:
        return [{int(c)} for c in labels]
    return [set(torch.nonzero(row).flatten().tolist()) for row in labels]


def _weight(mode, y, r):
    if mode == "any":
        return float(bool(y & r))
    if mode == "all":
        return float(y == r)
    return len(y & r) / len(y | r) if y | r else 0.0


def reference_losses(
    emb, labels, ref_emb=None, ref_labels=None, tau=0.1, positives="per_label", reduction="sum"
):
    """Eq. 11 and the weighted variants, one scalar at a time: {anchor index: ℓ_i} for the valid anchors."""
    self_ref = ref_emb is None
    if self_ref:
        ref_emb, ref_labels = emb, labels
    q = emb / emb.norm(dim=1, keepdim=True)
    r = ref_emb / ref_emb.norm(dim=1, keepdim=True)
    ys, rs = _label_sets(labels), _label_sets(ref_labels)
    out = {}
    for i in range(len(q)):
        cands = [a for a in range(len(r)) if not (self_ref and a == i)]
        if not ys[i] or not cands:
            continue
        sims = {a: (q[i] * r[a]).sum() / tau for a in cands}
        lse = torch.logsumexp(torch.stack(list(sims.values())), dim=0)
        lp = {a: sims[a] - lse for a in cands}
        if positives == "per_label":
            terms = []
            for j in sorted(ys[i]):
                pos = [a for a in cands if j in rs[a]]
                if pos:
                    terms.append(-sum(lp[a] for a in pos) / len(pos))
            if terms:
                out[i] = sum(terms) / (len(terms) if reduction == "mean" else 1)
        else:
            w = {a: _weight(positives, ys[i], rs[a]) for a in cands}
            if sum(w.values()) > 0:
                out[i] = -sum(w[a] * lp[a] for a in cands) / sum(w.values())
    return out


def reference_loss(*args, **kwargs):
    losses = list(reference_losses(*args, **kwargs).values())
    return sum(losses) / len(losses)


def _multi_hot(rows, num_labels, generator, empty_rows=(0,)):
    labels = (torch.rand(rows, num_labels, generator=generator) < 0.4).int()
    labels[list(empty_rows)] = 0
    return labels


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(7, 4, dtype=torch.float64, generator=g)
    ref = torch.randn(9, 4, dtype=torch.float64, generator=g)
    labels = _multi_hot(7, 5, g)
    # a label set shared by two anchors and a reference, so that "all" has positives
    labels[1] = labels[2] = torch.tensor([1, 1, 0, 0, 0])
    ref_labels = _multi_hot(9, 5, g, empty_rows=(3,))
    ref_labels[2] = labels[1]
    return emb, labels, ref, ref_labels


@pytest.mark.parametrize("positives", MODES)
@pytest.mark.parametrize("with_ref", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_values_and_gradients_match_loop_reference(data, positives, with_ref, reduction):
    emb, labels, ref, ref_labels = data
    emb = emb.clone().requires_grad_()
    ref = ref.clone().requires_grad_() if with_ref else None
    ref_labels = ref_labels if with_ref else None
    kwargs = dict(tau=0.3, positives=positives, reduction=reduction)
    expected = reference_loss(emb, labels, ref, ref_labels, **kwargs)
    leaves = [emb] if ref is None else [emb, ref]
    expected_grads = torch.autograd.grad(expected, leaves)
    for loss_fn in (
        lambda: cacl_loss(emb, labels, ref, ref_labels, 0.3, positives, reduction),
        lambda: CACLLoss(0.3, positives, reduction)(emb, labels, ref_emb=ref, ref_labels=ref_labels),
    ):
        value = loss_fn()
        grads = torch.autograd.grad(value, leaves)
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-9)
        for got, want in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)


def test_per_anchor_losses_and_valid_mask(data):
    emb, labels, ref, ref_labels = data
    losses, valid = cacl_per_anchor(emb, labels, ref, ref_labels, temperature=0.5)
    expected = reference_losses(emb, labels, ref, ref_labels, tau=0.5)
    assert valid.nonzero().flatten().tolist() == sorted(expected)
    assert not valid[0]  # the anchor with no label
    torch.testing.assert_close(losses[valid], torch.stack([expected[i] for i in sorted(expected)]))


@pytest.mark.parametrize("positives", MODES)
@pytest.mark.parametrize("with_ref", [False, True])
def test_gradcheck_float64(data, positives, with_ref):
    emb, labels, ref, ref_labels = data
    emb = emb.clone().requires_grad_()
    if with_ref:
        ref = ref.clone().requires_grad_()
        fn = lambda e, r: cacl_loss(e, labels, r, ref_labels, 0.5, positives)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (emb, ref))
    else:
        assert torch.autograd.gradcheck(
            lambda e: cacl_loss(e, labels, temperature=0.5, positives=positives), (emb,)
        )


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_equals_pml_supcon_on_class_ids(temperature):
    g = torch.Generator().manual_seed(2)
    emb, ids = torch.randn(12, 6, generator=g), torch.randint(0, 4, (12,), generator=g)
    ref, ref_ids = torch.randn(20, 6, generator=g), torch.randint(0, 5, (20,), generator=g)
    supcon, cacl = SupConLoss(temperature), CACLLoss(temperature)
    torch.testing.assert_close(cacl(emb, ids), supcon(emb, ids))
    torch.testing.assert_close(cacl(emb, torch.nn.functional.one_hot(ids, 5)), supcon(emb, ids))
    torch.testing.assert_close(cacl_loss(emb, ids, temperature=temperature), supcon(emb, ids))
    with_ref = supcon(emb, ids, ref_emb=ref, ref_labels=ref_ids)
    torch.testing.assert_close(cacl(emb, ids, ref_emb=ref, ref_labels=ref_ids), with_ref)
    one_hot_ref = cacl(
        emb,
        torch.nn.functional.one_hot(ids, 5),
        ref_emb=ref,
        ref_labels=torch.nn.functional.one_hot(ref_ids, 5),
    )
    torch.testing.assert_close(one_hot_ref, with_ref)


def test_indices_tuple_restricts_candidates_like_supcon():
    g = torch.Generator().manual_seed(3)
    emb, ids = torch.randn(10, 5, generator=g), torch.randint(0, 3, (10,), generator=g)
    same = ids[:, None] == ids[None, :]
    a1, p = torch.where(same & ~torch.eye(len(ids), dtype=torch.bool))  # every positive pair, no self-pairs
    a2, n = torch.where(~same)  # every negative pair
    keep_p = torch.rand(len(a1), generator=g) < 0.7
    keep_n = torch.rand(len(a2), generator=g) < 0.5
    pairs = (a1[keep_p], p[keep_p], a2[keep_n], n[keep_n])
    torch.testing.assert_close(CACLLoss(0.2)(emb, ids, pairs), SupConLoss(0.2)(emb, ids, pairs))


def test_triplets_restrict_candidates_like_supcon():
    g = torch.Generator().manual_seed(4)
    emb, ids = torch.randn(10, 5, generator=g), torch.randint(0, 3, (10,), generator=g)
    same = ids[:, None] == ids[None, :]
    a, p, n = [], [], []
    for anchor in range(10):
        for positive in torch.where(same[anchor])[0].tolist():
            for negative in torch.where(~same[anchor])[0].tolist():
                if positive != anchor and (anchor + positive + negative) % 3 == 0:  # a sparse, fixed subset
                    a, p, n = [*a, anchor], [*p, positive], [*n, negative]
    triplets = tuple(torch.tensor(x) for x in (a, p, n))
    torch.testing.assert_close(CACLLoss(0.2)(emb, ids, triplets), SupConLoss(0.2)(emb, ids, triplets))


def test_threshold_reducer_filters_per_anchor_losses(data):
    emb, labels, ref, ref_labels = data
    per_anchor = torch.stack(list(reference_losses(emb, labels, ref, ref_labels).values()))
    ordered = per_anchor.sort().values
    middle = len(ordered) // 2
    # a threshold halfway between two losses: no loss sits on it, whatever the last bit of each computation
    low = (ordered[middle - 1] + ordered[middle]) / 2
    loss = CACLLoss(reducer=ThresholdReducer(low=float(low)))(emb, labels, ref_emb=ref, ref_labels=ref_labels)
    torch.testing.assert_close(loss, per_anchor[per_anchor > low].mean())


def test_embedding_regularizer_is_added(data):
    emb, labels, _, _ = data
    loss = CACLLoss(embedding_regularizer=LpRegularizer(), embedding_reg_weight=0.5)(emb, labels)
    torch.testing.assert_close(loss, reference_loss(emb, labels) + 0.5 * emb.norm(dim=1).mean())


@pytest.mark.parametrize("positives", MODES)
def test_no_valid_anchor_gives_zero_on_the_graph(positives):
    emb = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])  # nobody shares a label
    for loss in (cacl_loss(emb, labels, positives=positives), CACLLoss(positives=positives)(emb, labels)):
        assert loss.item() == 0.0 and loss.requires_grad
        (grad,) = torch.autograd.grad(loss, emb)
        assert torch.equal(grad, torch.zeros_like(emb))


label_rows = st.lists(st.booleans(), min_size=3, max_size=3)
scales = st.sampled_from([0.0, 1e-3, 1.0, 1e6])


@settings(max_examples=40, deadline=None)
@given(
    anchors=st.lists(st.tuples(label_rows, scales), min_size=1, max_size=5),
    refs=st.none() | st.lists(st.tuples(label_rows, scales), min_size=0, max_size=5),
    temperature=st.sampled_from([0.01, 0.1, 1.0, 5.0]),
    positives=st.sampled_from(MODES),
    reduction=st.sampled_from(["sum", "mean"]),
    seed=st.integers(0, 2**16),
)
def test_loss_and_gradient_stay_finite(anchors, refs, temperature, positives, reduction, seed):
    g = torch.Generator().manual_seed(seed)

    def tensors(rows):
        labels = torch.tensor([r for r, _ in rows], dtype=torch.bool).reshape(len(rows), 3)
        scale = torch.tensor([s for _, s in rows]).reshape(len(rows), 1)
        return (torch.randn(len(rows), 4, generator=g) * scale).requires_grad_(), labels

    emb, labels = tensors(anchors)
    ref, ref_labels = tensors(refs) if refs is not None else (None, None)
    loss = CACLLoss(temperature, positives, reduction)(emb, labels, ref_emb=ref, ref_labels=ref_labels)
    leaves = [emb] if ref is None else [emb, ref]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True, materialize_grads=True)
    assert torch.isfinite(loss) and loss.item() >= -1e-5
    assert all(torch.isfinite(grad).all() for grad in grads)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(labels=torch.ones(3, 2)), "labels has shape"),
        (dict(labels=torch.full((4, 2), 2)), "multi-hot"),
        (dict(embeddings=torch.full((4, 3), float("nan"))), "embeddings contains NaN"),
        (dict(ref_emb=torch.randn(2, 3)), "ref_emb was given without ref_labels"),
        (dict(ref_labels=torch.ones(2, 2)), "ref_labels was given without ref_emb"),
        (dict(ref_emb=torch.randn(2, 3), ref_labels=torch.ones(2, 5)), "ref_labels has shape"),
        (dict(ref_emb=torch.randn(2, 7), ref_labels=torch.ones(2, 2)), "ref_emb has dim"),
        (dict(labels=torch.tensor([0.0, 1.0, 1.0, 0.0])), "integer class ids"),
        (dict(temperature=0.0), "temperature"),
        (dict(positives="some"), "per_label"),
        (dict(label_reduction="max"), "label_reduction"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(kwargs, message):
    args = dict(embeddings=torch.randn(4, 3), labels=torch.ones(4, 2)) | kwargs
    with pytest.raises(ValueError, match=message):
        cacl_loss(**args)


@pytest.mark.parametrize(
    "kwargs", [dict(temperature=-1.0), dict(positives="nope"), dict(label_reduction="max")]
)
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CACLLoss(**kwargs)


def test_pml_style_training_loop_decreases_the_loss():
    g = torch.Generator().manual_seed(4)
    labels = (torch.rand(64, 6, generator=g) < 0.3).int()
    features = labels.float() @ torch.randn(6, 16, generator=g) + 0.5 * torch.randn(64, 16, generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    loss_fn, optimizer = CACLLoss(temperature=0.2), torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(40):
        loss = loss_fn(model(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.9 * history[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_data(rank):
    g = torch.Generator().manual_seed(100 + rank)
    rows = 6  # PML's all_gather needs the same batch size on every rank
    return (
        torch.randn(rows, 4, generator=g),
        (torch.rand(rows, 3, generator=g) < 0.5).int(),
        torch.arange(rows) % 3,
    )


def _distributed_worker(rank, port, out_dir):
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    emb, labels, ids = _rank_data(rank)
    emb.requires_grad_()
    multi_hot = DistributedLossWrapper(CACLLoss(0.2))(emb, labels)
    (grad,) = torch.autograd.grad(multi_hot, emb)
    efficient = DistributedLossWrapper(CACLLoss(0.2), efficient=True)(emb, ids)
    efficient_supcon = DistributedLossWrapper(SupConLoss(0.2), efficient=True)(emb, ids)
    results = dict(multi_hot=multi_hot, grad=grad, efficient=efficient, efficient_supcon=efficient_supcon)
    torch.save({name: value.detach() for name, value in results.items()}, f"{out_dir}/rank{rank}.pt")
    torch.distributed.barrier()  # no rank tears the group down while another still has messages in flight
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_distributed_loss_wrapper_two_gloo_processes(tmp_path):
    mp.spawn(_distributed_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    data = [_rank_data(rank) for rank in range(2)]
    all_emb = torch.cat([d[0] for d in data]).requires_grad_()
    all_labels = torch.cat([d[1] for d in data])
    expected = reference_loss(all_emb, all_labels, tau=0.2)
    (expected_grad,) = torch.autograd.grad(expected, all_emb)
    for rank, result in enumerate(results):
        torch.testing.assert_close(result["multi_hot"], 2 * expected.detach())
        own_rows = slice(6 * rank, 6 * rank + 6)
        torch.testing.assert_close(result["grad"], 2 * expected_grad[own_rows])
        torch.testing.assert_close(result["efficient"], result["efficient_supcon"])
        assert math.isfinite(result["efficient"].item())


def test_mixed_precision_keeps_the_loss_in_float32(data):
    emb, labels, ref, ref_labels = (x.float() if x.is_floating_point() else x for x in data)
    expected = cacl_loss(emb, labels, ref, ref_labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = CACLLoss()(emb, labels, ref_emb=ref, ref_labels=ref_labels)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=3e-2, atol=0)
