"""Training docs/s of XML-CNN and AttentionXML at EURLEX57K's size, and the wall time per epoch it projects.

    python benchmarks/baseline_throughput.py [--quick] [--labels 4271] [--words 549] [--threads N]

Documents of ``--words`` words (default 549, EURLEX57K's mean) are drawn from GloVe's 100,000 most frequent words
with Zipf weights, 5 random labels each out of ``--labels`` (default 4,271). Each variant is the ``uclaf-bench``
preset at 512 tokens, built through ``TextClassifier.from_config``: ``xmlcnn`` and ``attentionxml`` on words and
GloVe (a 100,000-word vocabulary), each beside its named alternative, MiniLM word pieces (the same texts run to
more tokens, cut at 512), and AttentionXML's label-wise attention on all labels instead of the 64-cluster
shortlist. A step is forward + BCE + backward + AdamW, as in training; the variants take turns step by step after
a warm-up, so a change in the machine's load hits them alike. The table gives the median step, docs/s, the
projected hours per epoch over 45,000 documents, and the seconds to score 6,000 documents (forward only, batches
of 64). The last lines are ``ratio: X``: each alternative's step time over its preset's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp
import torch

from uclaf_plugin.bench.presets import method_recipe
from uclaf_plugin.encoders.wordvectors import glove_table, word_tokenizer
from uclaf_plugin.pipeline import ModelConfig, TextClassifier, pad_batch

EURLEX_TRAIN_DOCS, EURLEX_TEST_DOCS = 45_000, 6_000
VOCABULARY = 100_000
VARIANTS = {
    "xmlcnn (words, GloVe)": ("xmlcnn", {}),
    "xmlcnn (MiniLM word pieces)": ("xmlcnn", {"embeddings": "wordpiece"}),
    "attentionxml (words, GloVe, shortlist)": ("attentionxml", {}),
    "attentionxml (words, GloVe, all labels)": ("attentionxml", {"top_clusters": 10**6}),
    "attentionxml (MiniLM word pieces, shortlist)": ("attentionxml", {"embeddings": "wordpiece"}),
}
RATIOS = [
    ("xmlcnn (MiniLM word pieces)", "xmlcnn (words, GloVe)"),
    ("attentionxml (words, GloVe, all labels)", "attentionxml (words, GloVe, shortlist)"),
    ("attentionxml (MiniLM word pieces, shortlist)", "attentionxml (words, GloVe, shortlist)"),
]


def synthetic_corpus(docs: int, words: int, labels: int, seed: int = 0):
    """``docs`` texts of ``words`` Zipf-drawn GloVe words and a ``(docs, labels)`` target matrix (5 per doc)."""
    rng = np.random.default_rng(seed)
    index, _ = glove_table()
    vocabulary = [w for w in sorted(index, key=index.get)[: VOCABULARY * 2] if w.isalpha()][:VOCABULARY]
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    draws = rng.choice(len(vocabulary), size=(docs, words), p=weights / weights.sum())
    texts = [" ".join(vocabulary[i] for i in row) for row in draws]
    columns = np.stack([rng.choice(labels, 5, replace=False) for _ in range(docs)])
    targets = sp.csr_matrix(
        (np.ones(columns.size), (np.repeat(np.arange(docs), 5), columns.ravel())), (docs, labels)
    )
    return texts, targets, vocabulary


def build(method: str, change: dict, texts, targets, vocabulary, labels: int) -> TextClassifier:
    recipe = method_recipe(method)
    head_kwargs = {
        **recipe.pop("head_kwargs", {}),
        **{k: v for k, v in change.items() if k == "top_clusters"},
    }
    config = ModelConfig(**{**recipe, "head_kwargs": head_kwargs, "max_length": 512})
    config.embeddings = change.get("embeddings", config.embeddings)
    tokenizer = word_tokenizer(vocabulary) if config.word_level else None
    names = [f"label{i}" for i in range(labels)]
    return TextClassifier.from_config(
        config, names, train_texts=texts, train_targets=targets, tokenizer=tokenizer
    )


class TimedVariant:
    """One preset's model, optimizer and tokenised batch, timed one training step at a time."""

    def __init__(self, classifier: TextClassifier, texts, targets, batch_size: int):
        self.classifier = classifier
        self.model = classifier.model.train()
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=1e-3)
        self.ids = classifier.tokenize(texts)
        self.batch = (*pad_batch(self.ids[:batch_size], classifier.tokenizer.pad_token_id),)
        self.labels = torch.from_numpy(targets[:batch_size].toarray()).float()
        self.times: list[float] = []

    def step(self, record: bool = True) -> None:
        started = time.perf_counter()
        loss = self.model(*self.batch, labels=self.labels).loss
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if record:
            self.times.append(time.perf_counter() - started)

    @torch.no_grad()
    def scoring_seconds(self, batch_size: int = 64) -> float:
        """Seconds to score one batch of ``batch_size`` documents (forward only, eval mode)."""
        self.model.eval()
        ids = (self.ids * (batch_size // len(self.ids) + 1))[:batch_size]
        started = time.perf_counter()
        self.model(*pad_batch(ids, self.classifier.tokenizer.pad_token_id))
        seconds = time.perf_counter() - started
        self.model.train()
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 timed steps per variant instead of 8")
    parser.add_argument("--labels", type=int, default=4271, help="label count (4,271 = EURLEX57K)")
    parser.add_argument("--words", type=int, default=549, help="words per document (549 = EURLEX57K's mean)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    texts, targets, vocabulary = synthetic_corpus(max(64, args.batch_size), args.words, args.labels)
    variants = {
        name: TimedVariant(
            build(method, change, texts, targets, vocabulary, args.labels), texts, targets, args.batch_size
        )
        for name, (method, change) in VARIANTS.items()
    }
    for variant in variants.values():
        variant.step(record=False)
    for _ in range(3 if args.quick else 8):
        for variant in variants.values():
            variant.step()
    print(
        f"{args.batch_size} docs of {args.words} words per step, {args.labels} labels, {torch.get_num_threads()} threads"
    )
    print(
        "| variant | tokens/doc | step s (median) | docs/s | h per epoch (45,000 docs) | s to score 6,000 docs |"
    )
    print("|---|---|---|---|---|---|")
    medians = {}
    for name, variant in variants.items():
        medians[name] = statistics.median(variant.times)
        docs_per_second = args.batch_size / medians[name]
        score_seconds = variant.scoring_seconds() * EURLEX_TEST_DOCS / 64
        tokens = statistics.mean(len(ids) for ids in variant.ids)
        print(
            f"| {name} | {tokens:.0f} | {medians[name]:.2f} | {docs_per_second:.1f} | "
            f"{EURLEX_TRAIN_DOCS / docs_per_second / 3600:.2f} | {score_seconds:.0f} |"
        )
    for alternative, preset in RATIOS:
        print(f"ratio: {medians[alternative] / medians[preset]:.2f} ({alternative} step over {preset})")


if __name__ == "__main__":
    main()
