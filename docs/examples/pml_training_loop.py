"""CACLLoss in a plain pytorch-metric-learning training loop, with multi-hot labels.

An MLP embeds synthetic features of documents with several labels each; CACL (``positives="per_label"``) pulls
together documents that share a label, one positive set per label. PML's reducer and regularizer arguments
work as with any PML loss. Run: ``python docs/examples/pml_training_loop.py``.
"""

import torch
from pytorch_metric_learning import reducers, regularizers

from uclaf_plugin import CACLLoss

NUM_DOCS, NUM_LABELS, FEATURES, EMBEDDING = 512, 12, 32, 16
PROTOTYPES = torch.randn(NUM_LABELS, FEATURES, generator=torch.Generator().manual_seed(99))


def synthetic_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features = sum of the document's label prototypes + noise; every document has at least one label."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(NUM_DOCS, NUM_LABELS, generator=generator) < 0.08).int()
    labels[torch.arange(NUM_DOCS), torch.randint(NUM_LABELS, (NUM_DOCS,), generator=generator)] = 1
    features = labels.float() @ PROTOTYPES + 1.5 * torch.randn(NUM_DOCS, FEATURES, generator=generator)
    return features, labels


def neighbour_label_jaccard(embeddings: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Mean Jaccard overlap between each document's labels and those of its k nearest neighbours (cosine)."""
    normalized = torch.nn.functional.normalize(embeddings, dim=1)
    similarity = (normalized @ normalized.T).fill_diagonal_(-2.0)
    anchor = labels.bool().unsqueeze(1)
    neighbours = labels.bool()[similarity.topk(k, dim=1).indices]
    return ((anchor & neighbours).sum(-1) / (anchor | neighbours).sum(-1)).mean().item()


def main() -> None:
    torch.manual_seed(0)
    features, labels = synthetic_data(seed=0)
    test_features, test_labels = synthetic_data(seed=1)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, EMBEDDING)
    )
    loss_fn = CACLLoss(
        temperature=0.1,
        reducer=reducers.MeanReducer(),
        embedding_regularizer=regularizers.LpRegularizer(),
        embedding_reg_weight=1e-4,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def evaluate() -> tuple[float, float]:
        with torch.no_grad():
            embeddings = model(test_features)
            return loss_fn(embeddings, test_labels).item(), neighbour_label_jaccard(embeddings, test_labels)

    loss_before, jaccard_before = evaluate()
    for _epoch in range(10):
        for batch in torch.randperm(NUM_DOCS).split(64):
            loss = loss_fn(model(features[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    loss_after, jaccard_after = evaluate()

    print(f"held-out CACL: {loss_before:.3f} -> {loss_after:.3f}")
    print(
        f"held-out label overlap with the 5 nearest neighbours: {jaccard_before:.3f} -> {jaccard_after:.3f}"
    )
    assert loss_after < 0.9 * loss_before, "CACL should drop during training"
    assert jaccard_after > jaccard_before + 0.1, "neighbours should share more labels after training"


if __name__ == "__main__":
    main()
