"""CACLLoss with a cross-batch memory: small batches compared with the last ``memory_size`` embeddings.

``MultiLabelCrossBatchMemory`` is PML's ``CrossBatchMemory`` for multi-hot labels: each call enqueues the batch
(detached) and compares it with the whole memory, leaving out each anchor's own slot. With batches of 8, most of
a document's labels have no other document with that label in its batch; the memory supplies them. Run:
``python docs/examples/pml_cross_batch_memory.py``.
"""

import torch

from uclaf_plugin import CACLLoss, MultiLabelCrossBatchMemory

NUM_DOCS, NUM_LABELS, FEATURES, EMBEDDING, BATCH, MEMORY = 512, 40, 32, 16, 8, 128
EPOCHS = 3
PROTOTYPES = torch.randn(NUM_LABELS, FEATURES, generator=torch.Generator().manual_seed(99))


def synthetic_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features = sum of the document's label prototypes + noise; every document has at least one label."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(NUM_DOCS, NUM_LABELS, generator=generator) < 0.03).int()
    labels[torch.arange(NUM_DOCS), torch.randint(NUM_LABELS, (NUM_DOCS,), generator=generator)] = 1
    features = labels.float() @ PROTOTYPES + 1.5 * torch.randn(NUM_DOCS, FEATURES, generator=generator)
    return features, labels


def labels_with_a_positive(anchor_labels: torch.Tensor, reference_labels: torch.Tensor) -> int:
    """(anchor, label) pairs whose label some other reference row also has (the anchor is among the references)."""
    has_other = reference_labels.sum(0) >= 2
    return int((anchor_labels.bool() & has_other).sum())


def main() -> None:
    torch.manual_seed(0)
    features, labels = synthetic_data(seed=0)
    test_features, test_labels = synthetic_data(seed=1)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(), torch.nn.Linear(64, EMBEDDING)
    )
    loss_fn = MultiLabelCrossBatchMemory(
        CACLLoss(temperature=0.1), EMBEDDING, num_labels=NUM_LABELS, memory_size=MEMORY
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    held_out_cacl = CACLLoss(temperature=0.1)  # whole held-out set at once: a yardstick that needs no memory

    with torch.no_grad():
        loss_before = held_out_cacl(model(test_features), test_labels).item()
    positive_in_batch = positive_in_memory = 0
    for _epoch in range(EPOCHS):
        for batch in torch.randperm(NUM_DOCS).split(BATCH):
            loss = loss_fn(model(features[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            positive_in_batch += labels_with_a_positive(labels[batch], labels[batch])
            positive_in_memory += labels_with_a_positive(labels[batch], loss_fn.queue.labels)
    with torch.no_grad():
        loss_after = held_out_cacl(model(test_features), test_labels).item()

    total = EPOCHS * int(labels.sum())
    print(f"document labels with a positive in the batch of {BATCH}: {positive_in_batch / total:.0%}")
    print(f"document labels with a positive in the memory of {MEMORY}: {positive_in_memory / total:.0%}")
    print(f"held-out CACL: {loss_before:.3f} -> {loss_after:.3f}")
    assert len(loss_fn.queue) == MEMORY, "the memory should be full"
    assert positive_in_memory > 1.5 * positive_in_batch, "the memory should supply most positives"
    assert loss_after < 0.9 * loss_before, "CACL should drop during training"


if __name__ == "__main__":
    main()
