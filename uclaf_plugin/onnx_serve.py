"""Serve an exported classifier with ONNX Runtime: numpy, ``tokenizers`` and ``onnxruntime`` only.

``uclaf-bench export`` copies this file into the export folder as ``serve.py``, beside ``model.onnx`` (input ids and
attention mask in, sigmoid scores ``(B, L)`` out), ``tokenizer/tokenizer.json`` and ``export.json`` (maximum length,
padding id, label names, decision thresholds). It imports nothing from ``uclaf_plugin`` or torch, so the folder runs
anywhere those three packages install::

    python serve.py --input docs.txt            # one JSON line per document: {"labels": [...], "scores": {...}}

or, from Python, ``OnnxClassifier(folder).predict(["a text"], top_k=5)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

EXPORT_FILE = "export.json"


class OnnxClassifier:
    """An exported folder: ``scores(texts)`` -> ``(n, L)`` sigmoid scores, ``predict`` -> label sets and top-k.

    Args:
        folder: the folder ``uclaf-bench export`` wrote.
        threads: ONNX Runtime intra-op threads (``None``: its default, one per core).
    """

    def __init__(self, folder: str | Path, threads: int | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        config = json.loads((self.folder / EXPORT_FILE).read_text(encoding="utf-8"))
        self.label_names = config["labels"]
        self.max_length, self.pad_id = config["max_length"], config["pad_token_id"]
        self.thresholds = np.asarray(config["thresholds"]["per_label"], dtype=np.float32)
        self.at_least_one = bool(config["thresholds"]["at_least_one"])
        self.tokenizer = Tokenizer.from_file(str(self.folder / config["tokenizer"]))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(self.folder / config["model"]), options, providers=["CPUExecutionProvider"]
        )

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, truncated to ``max_length`` (special tokens included), not padded."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def scores(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Sigmoid scores ``(n, L)`` in ``label_names`` order; batches hold texts of similar length."""
        ids = self.token_ids(texts)
        order = np.argsort([len(row) for row in ids], kind="stable")
        result = np.zeros((len(ids), len(self.label_names)), dtype=np.float32)
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            input_ids, attention_mask = self._pad([ids[i] for i in rows])
            feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
            result[rows] = self.session.run(["scores"], feeds)[0]
        return result

    def predict(self, texts: list[str], top_k: int = 5, batch_size: int = 64) -> list[dict]:
        """``{"labels": label set (best first), "scores": {label: score} of the top_k}`` for each text."""
        scores = self.scores(texts, batch_size)
        decided = scores >= self.thresholds
        if self.at_least_one and decided.shape[0]:
            empty = ~decided.any(axis=1)
            decided[empty, np.argmax(scores[empty], axis=1)] = True
        records = []
        for row, chosen in zip(scores, decided, strict=True):
            ranked = np.argsort(-row, kind="stable")
            records.append(
                {
                    "labels": [self.label_names[j] for j in ranked if chosen[j]],
                    "scores": {self.label_names[j]: float(row[j]) for j in ranked[:top_k]},
                }
            )
        return records

    def _pad(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        length = max((len(row) for row in rows), default=1) or 1
        input_ids = np.full((len(rows), length), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), length), dtype=np.int64)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = row
            attention_mask[index, : len(row)] = 1
        return input_ids, attention_mask


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Label sets for a file of texts (one per line) from an export."
    )
    parser.add_argument("--input", required=True, help="A text file, one document per line.")
    parser.add_argument("--folder", default=str(Path(__file__).resolve().parent), help="The export folder.")
    parser.add_argument("--top-k", type=int, default=5, help="Scores to write per document.")
    args = parser.parse_args(argv)
    classifier = OnnxClassifier(args.folder)
    texts = [line.rstrip("\n") for line in open(args.input, encoding="utf-8") if line.strip()]
    for record in classifier.predict(texts, args.top_k):
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
