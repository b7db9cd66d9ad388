"""How fast the LAN head learns with and without the per-label readout ``r_k · c_k``.

    python benchmarks/lan_readout.py [--epochs 6] [--seeds 0,1]

Trains XML-CNN + LAN (no contrastive term) on the easy synthetic corpus (600 documents, 8 labels) with the
paper's output layer only (``label_readout=False``) and with the readout added (the default), same seeds and
settings, and prints the validation P@1 after each epoch and the test P@1 of each. The last line is the ratio of
test P@1, readout over paper-only, averaged over seeds.
"""

from __future__ import annotations

import argparse

from uclaf_plugin.data import load_dataset
from uclaf_plugin.pipeline import ModelConfig, TextClassifier
from uclaf_plugin.text_trainer import TextTrainer
from uclaf_plugin.train import TrainConfig, seed_everything


def train_once(corpus, splits, readout: bool, seed: int, epochs: int) -> tuple[list[float], float]:
    seed_everything(seed)
    config = ModelConfig(
        encoder="xmlcnn",
        head="lan",
        contrastive=None,
        max_length=32,
        encoder_kwargs={"num_filters": 32},
        head_kwargs={"attention_dim": 64, "label_readout": readout},
    )
    classifier = TextClassifier.from_config(config, corpus.label_names)
    settings = TrainConfig(
        epochs=epochs, batch_size=32, lr=1e-2, head_lr=1e-2, seed=seed, quiet=True, device="cpu"
    )
    trainer = TextTrainer(classifier, settings)
    summary = trainer.fit(*splits["train"], *splits["val"])
    return [h["val"]["P@1"] for h in summary["history"]], trainer.evaluate(*splits["test"])["P@1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    corpus = load_dataset(
        "synthetic", num_docs=600, num_labels=8, num_groups=2, doc_length=24, difficulty="easy"
    )
    splits = {
        name: (list(s.texts), corpus.binarize(s.labels))
        for name, s in [("train", corpus.train), ("val", corpus.val), ("test", corpus.test)]
    }
    ratios = []
    print(f"{'head output':<28} {'seed':>4}  val P@1 per epoch{'':<22} test P@1")
    for seed in (int(s) for s in args.seeds.split(",")):
        results = {}
        for readout in (False, True):
            curve, test = train_once(corpus, splits, readout, seed, args.epochs)
            results[readout] = test
            name = "FC2(act(FC1[l;c])) + r_k·c_k" if readout else "FC2(act(FC1[l;c])) (paper)"
            print(f"{name:<28} {seed:>4}  {' '.join(f'{p:.2f}' for p in curve):<40} {test:.3f}")
        ratios.append(results[True] / results[False])
    print(f"ratio: {sum(ratios) / len(ratios):.2f} (test P@1, with readout / paper-only)")


if __name__ == "__main__":
    main()
