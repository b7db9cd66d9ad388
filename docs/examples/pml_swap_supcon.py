"""A pytorch-metric-learning SupConLoss script switched to CACL by changing one line (plus the import):

    --- supcon.py
    +++ cacl.py
    +from uclaf_plugin import CACLLoss
    @@ def main():
    -    loss_fn = losses.SupConLoss(temperature=0.1)
    +    loss_fn = CACLLoss(temperature=0.1)

With single-label class ids CACL (``positives="per_label"``) *is* SupCon, so the training run is the same; the
script checks that against a SupConLoss run. What changes is that the labels may now be multi-hot ``(B, L)``:
the last part trains on fine classes and their coarse groups at once, which SupConLoss cannot express.
Run: ``python docs/examples/pml_swap_supcon.py``.
"""

import torch
from pytorch_metric_learning import losses

from uclaf_plugin import CACLLoss

NUM_DOCS, NUM_CLASSES, FEATURES, EMBEDDING, EPOCHS = 512, 8, 32, 16, 5


def blobs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs: ``features (N, FEATURES)`` and integer class ids ``(N,)``."""
    generator = torch.Generator().manual_seed(seed)
    classes = torch.randint(NUM_CLASSES, (NUM_DOCS,), generator=generator)
    centres = torch.randn(NUM_CLASSES, FEATURES, generator=generator)
    return centres[classes] + 1.5 * torch.randn(NUM_DOCS, FEATURES, generator=generator), classes


def train(loss_fn, features: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """A seeded PML-style training run; returns the loss of every step."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, EMBEDDING)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _epoch in range(EPOCHS):
        for batch in torch.randperm(len(features)).split(64):
            loss = loss_fn(model(features[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history.append(loss.item())
    return history


def epoch_means(history: list[float]) -> list[float]:
    per_epoch = len(history) // EPOCHS
    return [sum(history[i : i + per_epoch]) / per_epoch for i in range(0, len(history), per_epoch)]


def main() -> None:
    features, labels = blobs()
    loss_fn = CACLLoss(temperature=0.1)
    history = train(loss_fn, features, labels)
    print("CACL, class ids, loss per epoch:", [round(v, 3) for v in epoch_means(history)])
    assert epoch_means(history)[-1] < 0.9 * epoch_means(history)[0], "the loss should drop"

    supcon = train(losses.SupConLoss(temperature=0.1), features, labels)
    torch.testing.assert_close(torch.tensor(history), torch.tensor(supcon), rtol=1e-3, atol=1e-4)
    print("SupConLoss run: the same losses at every step")

    groups = torch.nn.functional.one_hot(labels // 2, NUM_CLASSES // 2)  # coarse groups of two classes
    multi_hot = torch.cat([torch.nn.functional.one_hot(labels, NUM_CLASSES), groups], dim=1)
    multi_label = epoch_means(train(loss_fn, features, multi_hot))
    print("CACL, multi-hot (class + group), loss per epoch:", [round(v, 3) for v in multi_label])
    assert multi_label[-1] < 0.9 * multi_label[0], "the loss should drop with multi-hot labels too"


if __name__ == "__main__":
    main()
