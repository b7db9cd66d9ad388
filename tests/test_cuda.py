"""CUDA paths: the same numbers as on the CPU, bf16 autocast, and memory bounds. Skipped without a GPU."""

import copy

import pytest
import torch

from uclaf_plugin.heads import LabelAttentionHead
from uclaf_plugin.losses import CACLLoss, cacl_loss
from uclaf_plugin.pipeline import TextClassifier
from uclaf_plugin.text_trainer import TextTrainer
from uclaf_plugin.train import TrainConfig, seed_everything

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")
GIB = 2**30


def _multi_hot(rows, labels, generator):
    targets = (torch.rand(rows, labels, generator=generator) < 0.3).float()
    targets[:, 0] = torch.where(targets.sum(1) == 0, 1.0, targets[:, 0])
    return targets


def _loss_inputs():
    generator = torch.Generator().manual_seed(0)
    emb = torch.randn(12, 16, generator=generator)
    ref = torch.randn(40, 16, generator=generator)
    return emb, _multi_hot(12, 6, generator), ref, _multi_hot(40, 6, generator)


@pytest.mark.parametrize("positives", ["per_label", "any", "all", "jaccard"])
def test_cacl_loss_and_gradients_match_the_cpu(positives):
    emb, labels, ref, ref_labels = _loss_inputs()
    results = []
    for device in ("cpu", CUDA):
        anchors = emb.to(device).clone().requires_grad_()
        loss = CACLLoss(0.2, positives)(
            anchors, labels.to(device), ref_emb=ref.to(device), ref_labels=ref_labels.to(device)
        )
        loss.backward()
        results.append((loss.detach().cpu(), anchors.grad.cpu()))
    (cpu_loss, cpu_grad), (cuda_loss, cuda_grad) = results
    torch.testing.assert_close(cuda_loss, cpu_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cuda_grad, cpu_grad, rtol=1e-4, atol=1e-6)


def test_cacl_under_bf16_autocast_stays_float32():
    emb, labels, ref, ref_labels = (x.to(CUDA) for x in _loss_inputs())
    expected = cacl_loss(emb, labels, ref, ref_labels)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = CACLLoss()(emb, labels, ref_emb=ref, ref_labels=ref_labels)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=3e-2, atol=0)


@pytest.mark.parametrize("label_readout", [True, False])
def test_lan_matches_the_cpu_in_float32_and_bf16(label_readout):
    head = LabelAttentionHead(32, 20, attention_dim=16, label_readout=label_readout).eval()
    features = torch.randn(3, 10, 32)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False
    runs = {}
    for name, device, dtype in (("cpu", "cpu", None), ("cuda", CUDA, None), ("bf16", CUDA, torch.bfloat16)):
        module, inputs = copy.deepcopy(head).to(device), features.to(device).clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype is not None):
            logits = module(inputs, mask.to(device)).logits
        logits.float().square().sum().backward()
        runs[name] = (logits.float().detach().cpu(), inputs.grad.float().cpu())
    torch.testing.assert_close(runs["cuda"][0], runs["cpu"][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(runs["cuda"][1], runs["cpu"][1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(runs["bf16"][0], runs["cpu"][0], rtol=5e-2, atol=5e-2)


def test_lan_stays_memory_bounded_at_thousands_of_labels():
    """EURLex scale (L=3956, T=512, d=384): one (B, L, T, a) float32 tensor alone would take 8 GiB."""
    batch, labels, length, dim = 4, 3956, 512, 384
    head = LabelAttentionHead(dim, labels).to(CUDA)
    features = torch.randn(batch, length, dim, device=CUDA, requires_grad=True)
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    head(features).logits.square().mean().backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    assert batch * labels * length * head.token_proj.out_features * 4 > 7 * GIB
    assert peak < 3 * GIB, f"peak {peak / GIB:.2f} GiB"


def test_trainer_picks_cuda_with_bf16_and_learns_an_easy_corpus(easy_corpus, easy_uclaf_config, tmp_path):
    """device='auto' trains LAN + CACL (momentum encoder, queue) on the GPU under bf16 autocast; the saved
    model scores the same on the CPU."""
    splits = [(list(s.texts), easy_corpus.binarize(s.labels)) for s in (easy_corpus.train, easy_corpus.val)]
    seed_everything(0)
    classifier = TextClassifier.from_config(easy_uclaf_config, easy_corpus.label_names)
    trainer = TextTrainer(classifier, TrainConfig(epochs=6, batch_size=32, lr=1e-2, head_lr=1e-2, quiet=True))
    assert trainer.device.type == "cuda" and trainer.trainer.amp_dtype == torch.bfloat16
    trainer.fit(*splits[0], *splits[1])
    test_texts = list(easy_corpus.test.texts)
    assert trainer.evaluate(test_texts, easy_corpus.binarize(easy_corpus.test.labels))["P@1"] >= 0.9
    assert next(classifier.model.parameters()).device.type == "cuda"

    cuda_scores = classifier.scores(test_texts, device=CUDA)
    reloaded = TextClassifier.load(classifier.save(tmp_path / "model"))
    cpu_scores = reloaded.scores(test_texts, device="cpu")
    torch.testing.assert_close(
        torch.from_numpy(cpu_scores), torch.from_numpy(cuda_scores), rtol=1e-3, atol=1e-4
    )
