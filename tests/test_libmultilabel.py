"""LAN and UCLAF as LibMultiLabel networks: the network contract, training, and registration."""

import copy
import types

import pytest
import torch
import torch.nn.functional as F

from uclaf_plugin.integrations.libmultilabel import (
    LANNetwork,
    UCLAFNetwork,
    add_gradient_of,
    register_networks,
)

VOCAB, EMBED, LABELS = 60, 16, 5
SMALL = {"rnn_dim": 16, "attention_dim": 16, "embed_dropout": 0.1}


def word_batch(num_docs: int, seed: int = 0, length: int = 12) -> dict:
    """Right-padded word ids (0 = padding) where label j owns words 2+10j .. 11+10j, plus multi-hot labels."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(num_docs, LABELS, generator=generator) < 0.35).float()
    labels[labels.sum(1) == 0, 0] = 1
    text = torch.zeros(num_docs, length, dtype=torch.long)
    for row in range(num_docs):
        owned = labels[row].nonzero().squeeze(1)
        size = int(torch.randint(4, length + 1, (1,), generator=generator))
        picks = owned[torch.randint(len(owned), (size,), generator=generator)]
        text[row, :size] = 2 + 10 * picks + torch.randint(10, (size,), generator=generator)
    return {"text": text, "label": labels}


def embed_vecs(seed: int = 0) -> torch.Tensor:
    return torch.randn(VOCAB, EMBED, generator=torch.Generator().manual_seed(seed))


def train(network, steps: int, explicit: bool = False) -> list[tuple[float, float]]:
    """LibMultiLabel's step (BCE on ``output["logits"]``); returns (bce, contrastive) per step."""
    optimizer = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=1e-2)
    history = []
    network.train()
    for step in range(steps):
        batch = word_batch(16, seed=step % 4)
        output = network(batch)
        bce = F.binary_cross_entropy_with_logits(output["logits"], batch["label"])
        loss = bce + output["contrastive_loss"] if explicit else bce
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        contrastive = float(output["contrastive_loss"].detach()) if "contrastive_loss" in output else 0.0
        history.append((bce.item(), contrastive))
    return history


def mean(values) -> float:
    return sum(values) / len(values)


@pytest.mark.parametrize("network_class", [LANNetwork, UCLAFNetwork])
def test_forward_gives_logits_per_label(network_class):
    network = network_class(embed_vecs(), LABELS, **SMALL).eval()
    output = network({"text": word_batch(7)["text"]})
    assert set(output) == {"logits"}
    assert output["logits"].shape == (7, LABELS) and torch.isfinite(output["logits"]).all()


def test_padding_does_not_change_the_logits():
    network = LANNetwork(embed_vecs(), LABELS, **SMALL).eval()
    text = word_batch(6)["text"]
    padded = F.pad(text, (0, 9))
    with torch.no_grad():
        torch.testing.assert_close(network({"text": padded})["logits"], network({"text": text})["logits"])


def test_lan_learns_with_bce_on_logits():
    history = train(LANNetwork(embed_vecs(), LABELS, **SMALL), steps=40)
    assert mean([bce for bce, _ in history[-4:]]) < 0.6 * mean([bce for bce, _ in history[:4]])


def test_uclaf_learns_and_its_contrastive_term_falls():
    network = UCLAFNetwork(embed_vecs(), LABELS, queue_size=16, **SMALL)
    history = train(network, steps=40)
    assert mean([bce for bce, _ in history[-4:]]) < 0.6 * mean([bce for bce, _ in history[:4]])
    # the queue is full from step 2 on, so the contrastive terms compare over the same number of references
    assert mean([c for _, c in history[-4:]]) < mean([c for _, c in history[1:5]])
    assert len(network.momentum_contrast.queue) == 16


def test_injected_gradient_equals_adding_the_contrastive_loss():
    injected = UCLAFNetwork(embed_vecs(), LABELS, lambda_=0.7, queue_size=8, **SMALL)
    explicit = copy.deepcopy(injected)
    explicit.inject_contrastive_gradient = False
    for network, add_explicitly in ((injected, False), (explicit, True)):
        torch.manual_seed(3)
        # one step first fills the queue, so the checked step also compares with queued keys
        train(network, steps=1, explicit=add_explicitly)
        torch.manual_seed(4)
        network.zero_grad()
        batch = word_batch(10, seed=9)
        output = network(batch)
        loss = F.binary_cross_entropy_with_logits(output["logits"], batch["label"])
        (loss + output["contrastive_loss"] if add_explicitly else loss).backward()
    assert output["contrastive_loss"].requires_grad and output["contrastive_loss"] > 0
    for (name, a), (_, b) in zip(injected.named_parameters(), explicit.named_parameters(), strict=True):
        if a.requires_grad:
            torch.testing.assert_close(a.grad, b.grad, msg=f"gradient of {name} differs")
    assert (
        injected.momentum_contrast.projection[0].weight.grad.abs().sum() > 0
    )  # only the contrastive term reaches the projection


def test_add_gradient_of_matches_hand_computed_gradient():
    w = torch.tensor(3.0, requires_grad=True)
    x = torch.tensor([1.0, 2.0])
    logits = add_gradient_of(w * x, 0.5 * w**2)  # value: w * x; extra loss 0.5 w² adds w to dL/dw
    torch.testing.assert_close(logits, torch.tensor([3.0, 6.0]))
    logits.sum().backward()
    assert w.grad.item() == pytest.approx(1.0 + 2.0 + 3.0)


def test_evaluation_skips_the_contrastive_branch():
    network = UCLAFNetwork(embed_vecs(), LABELS, queue_size=8, **SMALL).eval()
    output = network(word_batch(4))
    assert set(output) == {"logits"} and len(network.momentum_contrast.queue) == 0


def test_key_encoder_starts_as_a_copy_of_reinitialised_weights():
    network = UCLAFNetwork(embed_vecs(), LABELS, **SMALL)
    network.apply(
        lambda m: torch.nn.init.kaiming_uniform_(m.weight) if isinstance(m, torch.nn.Linear) else None
    )
    network.train()(word_batch(4))
    branch = network.momentum_contrast
    for query, key in zip(branch.projection.parameters(), branch.key_projection.parameters(), strict=True):
        torch.testing.assert_close(query, key)
    for query, key in zip(network.encoder.parameters(), branch.key_encoder.parameters(), strict=True):
        torch.testing.assert_close(query, key)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: LANNetwork(torch.randn(VOCAB), LABELS), "embed_vecs must be"),
        (lambda: LANNetwork(embed_vecs(), LABELS, rnn_dim=15), "rnn_dim must be"),
        (lambda: UCLAFNetwork(embed_vecs(), LABELS, contrastive="cosine", **SMALL), "contrastive='cosine'"),
    ],
)
def test_bad_settings_are_rejected(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "batch, message",
    [
        ({"input_ids": torch.ones(2, 3, dtype=torch.long)}, 'batch must be a dict with "text"'),
        ({"text": torch.ones(2, 3)}, r'batch\["text"\] must be'),
        (
            {"text": torch.ones(2, 3, dtype=torch.long), "label": torch.ones(2, LABELS + 1)},
            r'batch\["label"\]',
        ),
    ],
)
def test_bad_batches_are_rejected(batch, message):
    network = UCLAFNetwork(embed_vecs(), LABELS, **SMALL).train()
    with pytest.raises(ValueError, match=message):
        network(batch)


def test_register_networks_adds_names_and_keeps_foreign_ones():
    networks = types.ModuleType("fake_networks")
    assert register_networks(networks) == ["LAN", "UCLAF"]
    assert networks.UCLAF is UCLAFNetwork and networks.LAN is LANNetwork
    other = types.ModuleType("other_networks")
    other.LAN = object()
    with pytest.warns(UserWarning, match="already exists"):
        assert register_networks(other) == ["UCLAF"]


def test_libmultilabel_init_model_builds_and_trains_uclaf():
    pytest.importorskip("libmultilabel")
    from libmultilabel.nn import networks, nn_utils

    import uclaf_plugin.integrations.libmultilabel  # noqa: F401  (registers the networks)

    assert networks.UCLAF is UCLAFNetwork and networks.LAN is LANNetwork
    classes = [f"label{j}" for j in range(LABELS)]
    model = nn_utils.init_model("UCLAF", {**SMALL, "queue_size": 8}, classes, embed_vecs=embed_vecs())
    batch = word_batch(6)
    model.train()
    loss, logits = model.shared_step(batch)
    assert logits.shape == (6, LABELS)
    loss.backward()
    assert model.network.momentum_contrast.projection[0].weight.grad.abs().sum() > 0


def test_a_registered_positive_definition_trains_the_network():
    from uclaf_plugin.positives import POSITIVES, any_label, register_positive

    register_positive("test_any_copy", lambda labels, refs: any_label(labels, refs))
    try:
        outputs = []
        for name in ("test_any_copy", "any"):
            torch.manual_seed(0)
            network = UCLAFNetwork(embed_vecs(), LABELS, contrastive=name, queue_size=8, **SMALL).train()
            outputs.append([network(word_batch(4, seed))["contrastive_loss"] for seed in (1, 2)])
        torch.testing.assert_close(outputs[0], outputs[1])
        assert all(value > 0 for value in outputs[0])
    finally:
        del POSITIVES["test_any_copy"]
