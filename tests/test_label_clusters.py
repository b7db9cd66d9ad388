import numpy as np
import pytest
import scipy.sparse as sp
import torch

from uclaf_plugin.heads import AttentionXMLHead
from uclaf_plugin.pipeline import ModelConfig, TextClassifier
from uclaf_plugin.shortlist import LabelClusters, balanced_clusters, halving_clusters, label_representations

# Four topics with disjoint words; labels 0-3 belong to topic 0, 4-7 to topic 1, ...
TOPICS = [
    ["cat", "dog", "pet"],
    ["bond", "stock", "fund"],
    ["goal", "match", "team"],
    ["rain", "snow", "wind"],
]


def topic_corpus(docs_per_label=3, seed=0):
    rng = np.random.default_rng(seed)
    texts, rows = [], []
    for label in range(16):
        words = TOPICS[label // 4]
        for _ in range(docs_per_label):
            texts.append(" ".join(rng.choice(words, 6)) + f" tag{label}")
            rows.append(label)
    targets = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=(len(rows), 16))
    return texts, targets


def test_halving_gives_the_cluster_sizes_of_recursive_halves():
    assert np.bincount(halving_clusters(20, 8)).tolist() == [5, 5, 5, 5]  # 20 -> 10, 10 -> 5, 5, 5, 5
    sizes = np.bincount(halving_clusters(54, 8))  # 54 -> 27, 27 -> 14, 13 -> 7, 7, 7, 6
    assert sorted(sizes.tolist()) == [6, 6, 7, 7, 7, 7, 7, 7] and sizes.sum() == 54
    assert halving_clusters(3, 8).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="cluster_size"):
        halving_clusters(10, 0)


def test_balanced_two_means_keeps_each_topic_in_its_own_clusters():
    texts, targets = topic_corpus()
    assignment = balanced_clusters(label_representations(texts, targets), cluster_size=4, seed=1)
    assert sorted(np.bincount(assignment).tolist()) == sorted(np.bincount(halving_clusters(16, 4)).tolist())
    for topic in range(4):
        assert len(set(assignment[topic * 4 : topic * 4 + 4])) == 1, assignment


def test_members_cluster_targets_and_candidates_by_hand():
    clusters = LabelClusters([1, 0, 1, 2])
    assert clusters.members.tolist() == [[1, -1], [0, 2], [3, -1]]
    targets = torch.tensor([[0.0, 0, 0, 1], [1, 1, 0, 0]])
    assert clusters.cluster_targets(targets).tolist() == [[0, 0, 1], [1, 1, 0]]
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.8, 0.2, 0.1]])
    labels, valid = clusters.candidates(scores, top_clusters=1)
    assert labels.tolist() == [[0, 2], [1, 0]] and valid.tolist() == [[True, True], [True, False]]
    # training: the true labels' clusters first, then the best of the rest; both rows keep two clusters here
    labels, valid = clusters.candidates(scores, top_clusters=1, targets=targets)
    chosen = [set(row[ok].tolist()) for row, ok in zip(labels, valid, strict=True)]
    assert chosen == [{0, 2, 3}, {0, 1, 2}]
    with pytest.raises(ValueError, match="empty"):
        LabelClusters([0, 2])


def reference_logits(head, features):
    """Every label scored alone, by loops: its cluster's logit (if any) plus its own attention logit."""
    cluster_logits = (
        head.cluster_scorer(features).logits if head.shortlisted else torch.zeros(len(features), 99)
    )
    out = torch.empty(features.shape[0], head.num_labels)
    for b in range(features.shape[0]):
        for label in range(head.num_labels):
            weights = torch.softmax(features[b] @ head.label_queries[label], dim=0)
            own = head.fc2(torch.relu(head.fc1(weights @ features[b])))
            out[b, label] = cluster_logits[b, head.assignment[label]] + own
    return out, cluster_logits


def test_head_without_shortlist_is_plain_label_wise_attention():
    head = AttentionXMLHead(6, 10, hidden_dim=5, cluster_size=3, top_clusters=4).eval()
    assert not head.shortlisted and head.cluster_scorer is None
    features = torch.randn(2, 7, 6)
    expected, _ = reference_logits(head, features)
    output = head(features, return_attention=True)
    assert output.attention is None  # AttentionXMLHead scores candidates only: no (B, L, T) map
    assert torch.allclose(output.logits, expected, atol=1e-5)
    assert torch.allclose(head(features, labels=torch.ones(2, 10)).logits, expected, atol=1e-5)


def test_shortlist_scores_candidates_fully_and_others_by_their_cluster():
    head = AttentionXMLHead(6, 12, hidden_dim=5, cluster_size=3, top_clusters=2).eval()
    features = torch.randn(3, 5, 6)
    full, cluster_logits = reference_logits(head, features)
    logits = head(features).logits
    top = cluster_logits.topk(2, dim=1).indices
    for b in range(3):
        for label in range(12):
            cluster = head.assignment[label]
            expected = full[b, label] if cluster in top[b] else cluster_logits[b, cluster]
            assert torch.isclose(logits[b, label], expected, atol=1e-5)


def test_training_scores_every_true_label_at_the_label_level():
    head = AttentionXMLHead(6, 12, hidden_dim=5, cluster_size=3, top_clusters=1).train()
    head.dropout.p = 0.0
    features = torch.randn(2, 5, 6)
    labels = torch.zeros(2, 12)
    labels[0, [0, 11]] = 1  # two clusters for one document: more than top_clusters
    labels[1, 5] = 1
    full, _ = reference_logits(head, features)
    logits = head(features, labels=labels).logits
    for b, label in [(0, 0), (0, 11), (1, 5)]:
        assert torch.isclose(logits[b, label], full[b, label], atol=1e-5)
    logits.sum().backward()
    assert head.label_queries.grad[[0, 11, 5]].abs().sum() > 0


def test_pipeline_clusters_the_labels_and_keeps_them_on_save(tmp_path):
    texts, targets = topic_corpus()
    config = ModelConfig(
        encoder="attentionxml",
        head="attentionxml",
        contrastive=None,
        embeddings="glove",
        head_kwargs={"cluster_size": 4, "top_clusters": 2},
    )
    names = [f"l{i}" for i in range(16)]
    classifier = TextClassifier.from_config(config, names, train_texts=texts, train_targets=targets)
    assignment = classifier.model.head.assignment.clone()
    for topic in range(4):
        assert len(set(assignment[topic * 4 : topic * 4 + 4].tolist())) == 1
    classifier.save(tmp_path)
    loaded = TextClassifier.load(tmp_path)
    assert torch.equal(loaded.model.head.assignment, assignment)
    assert np.allclose(loaded.scores(texts[:5]), classifier.scores(texts[:5]), atol=1e-6)
    with pytest.raises(ValueError, match="train_targets"):
        TextClassifier.from_config(config, names, train_texts=texts)
