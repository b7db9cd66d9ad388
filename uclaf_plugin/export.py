"""Export a run's inference path to ONNX: a folder that ONNX Runtime serves without this package's model code.

The folder holds ``model.onnx`` (``input_ids``, ``attention_mask`` int64 ``(B, T)`` -> ``scores`` float32 ``(B, L)``,
the sigmoid of the logits; batch and length are dynamic), ``tokenizer/`` (the Hugging Face tokenizer files;
``tokenizer.json`` is read by the ``tokenizers`` package alone), ``export.json`` (maximum length, padding id, label
names, the run's tuned thresholds, and the largest score difference between ONNX Runtime and PyTorch measured at
export), and ``serve.py`` (:mod:`uclaf_plugin.onnx_serve`, which needs only numpy, ``tokenizers`` and
``onnxruntime``).

The heads are exported through :class:`ScoringGraph`, which computes the same logits with plain tensor operations:
the LAN head's label-chunked custom autograd kernel (``tanh`` written as ``2σ(2x) − 1``, padding tokens never scored)
becomes ``vᵀ tanh(W_l l_k + W_f f_t)`` (or the head's other ``scoring``) over label chunks with padding masked in the
softmax, as in the paper's eq. (5)-(6); a shortlisted head scores its candidates in one batched product. Needs the optional ``onnx`` extra (``pip install 'uclaf-plugin[onnx]'``).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .files import write_json
from .heads import (
    SCORINGS,
    DotLabelAttentionHead,
    LabelAttentionHead,
    LinearHead,
    masked_softmax,
)
from .heads.shortlist import merge_logits, shortlist_candidates
from .pipeline import WEIGHTS_FILE, TextClassifier, pad_batch
from .thresholds import THRESHOLDS_FILE, Thresholds

MODEL_FILE = "model.onnx"
EXPORT_FILE = "export.json"
OPSET = 17
EXPORT_LABEL_CHUNK = 64
TOLERANCE = 1e-4
CHECK_TEXTS = (
    "A short text.",
    "A somewhat longer text, written to check that padding and truncation give the same scores in both runtimes.",
)


class ScoringGraph(nn.Module):
    """``(input_ids, attention_mask) -> sigmoid scores (B, L)`` of a classifier, in export-friendly operations."""

    def __init__(self, classifier: TextClassifier, label_chunk: int = EXPORT_LABEL_CHUNK):
        super().__init__()
        self.encoder, self.head, self.label_chunk = (
            classifier.model.encoder,
            classifier.model.head,
            label_chunk,
        )
        if not isinstance(self.head, LabelAttentionHead | DotLabelAttentionHead | LinearHead):
            raise ValueError(
                f"ONNX export supports the heads lan, dot and linear; this run's head is {type(self.head).__name__}"
            )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        features, mask = self.encoder(input_ids, attention_mask)
        if isinstance(self.head, LabelAttentionHead):
            logits = lan_logits(self.head, features, mask, self.label_chunk)
        elif isinstance(self.head, DotLabelAttentionHead):
            logits = self.head._label_chunk(features, mask, 0, self.head.num_labels, False)[0]
        else:
            logits = self.head(features, mask).logits
        return torch.sigmoid(logits.float())


def lan_logits(
    head: LabelAttentionHead, features: torch.Tensor, mask: torch.Tensor, chunk: int
) -> torch.Tensor:
    """The logits of ``head`` ``(B, L)`` with plain operations, for every ``scoring`` and with a shortlist.

    Exact head: label-token scores label chunk by label chunk. Shortlisted (``shortlist_size=C``): the proposal
    scorer's top-C labels of each document, scored in one batched product (the head's own path scores one document
    at a time), then merged with the proposal scores as the head does (:func:`merge_logits`).
    """
    tokens = head.token_proj(features).unsqueeze(1)  # (B, 1, T, a)
    interaction, per_label = SCORINGS[head.scoring]
    vectors = head.scoring_vectors().to(tokens.dtype)  # (a,) shared, or (L, a)
    if head.proposal is None:
        labels = head.label_proj(head.label_embedding).to(tokens.dtype)  # (L, a)
        pieces = [
            _label_token_scores(
                tokens,
                labels[start : start + chunk, None, :],
                vectors[start : start + chunk] if per_label else vectors,
                interaction,
            )
            for start in range(0, head.num_labels, chunk)
        ]
        attention = masked_softmax(torch.cat(pieces, dim=1), mask.bool()).to(features.dtype)
        return head._classify(torch.bmm(attention, features))
    proposal = head.proposal_scores(features, mask.bool())
    candidates = shortlist_candidates(proposal, head.shortlist_size)  # (B, C)
    labels = head.label_proj(head.label_embedding[candidates]).to(tokens.dtype)  # (B, C, a)
    scores = _label_token_scores(
        tokens, labels.unsqueeze(2), vectors[candidates] if per_label else vectors, interaction
    )
    attention = masked_softmax(scores, mask.bool()).to(features.dtype)
    logits = head._classify(torch.bmm(attention, features), candidates)
    return merge_logits(logits, candidates, proposal)


def _label_token_scores(
    tokens: torch.Tensor, labels: torch.Tensor, vectors: torch.Tensor, interaction: str
) -> torch.Tensor:
    """``vᵀ tanh(W_l l ∘ W_f f)`` for projected ``tokens (B, 1, T, a)`` and ``labels (..., n, 1, a)`` -> ``(B, n, T)``;
    ``∘`` is ``+`` (``"add"``, paper eq. 2) or ``⊙`` (``"mul"``); ``vectors`` is one ``(a,)`` or one per label
    ``(..., n, a)``."""
    hidden = torch.tanh(tokens + labels if interaction == "add" else tokens * labels)  # (B, n, T, a)
    if vectors.dim() == 1:
        return torch.matmul(hidden, vectors)
    return (hidden * vectors.unsqueeze(-2)).sum(-1)


def export_onnx(run_dir: str | Path, output: str | Path | None = None, check_texts=CHECK_TEXTS) -> Path:
    """Write the export folder of a neural run (default ``run_dir/onnx``); returns it.

    Raises ValueError for a linear run or an unsupported head, and when ONNX Runtime's scores on ``check_texts``
    differ from PyTorch's by more than ``TOLERANCE``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / WEIGHTS_FILE).is_file():
        raise ValueError(f"{run_dir} holds no neural model ({WEIGHTS_FILE}); ONNX export needs a neural run")
    output = Path(output) if output is not None else run_dir / "onnx"
    output.mkdir(parents=True, exist_ok=True)
    classifier = TextClassifier.load(run_dir)
    graph = ScoringGraph(classifier).eval()
    _export_graph(graph, classifier, output / MODEL_FILE)
    tokenizer_files = classifier.tokenizer.save_pretrained(str(output / "tokenizer"))
    if not (output / "tokenizer" / "tokenizer.json").is_file():
        raise ValueError(
            f"the tokenizer of {run_dir} is not a fast tokenizer ({tokenizer_files}); cannot export"
        )
    shutil.copyfile(Path(__file__).with_name("onnx_serve.py"), output / "serve.py")
    write_json(output / EXPORT_FILE, _export_config(run_dir, classifier))
    difference = max_score_difference(output, classifier, list(check_texts))
    if not difference <= TOLERANCE:
        raise ValueError(f"ONNX Runtime's scores differ from PyTorch's by {difference:.2e} (> {TOLERANCE:g})")
    write_json(
        output / EXPORT_FILE, {**_export_config(run_dir, classifier), "max_abs_difference": difference}
    )
    return output


def max_score_difference(folder: Path, classifier: TextClassifier, texts: list[str]) -> float:
    """Largest ``|ONNX Runtime − PyTorch|`` score on ``texts`` (PyTorch through the run's own model)."""
    from .onnx_serve import OnnxClassifier

    onnx_scores = OnnxClassifier(folder).scores(texts)
    reference = classifier.scores(texts)
    return float(np.abs(onnx_scores - reference).max())


def _export_graph(graph: ScoringGraph, classifier: TextClassifier, path: Path) -> None:
    """``torch.onnx.export`` (TorchScript exporter) with dynamic batch and length axes."""
    try:
        import onnx  # noqa: F401  (the exporter needs it; fail early with a clear message)
    except ImportError:
        raise ValueError("ONNX export needs the onnx extra: pip install 'uclaf-plugin[onnx]'") from None
    input_ids, attention_mask = pad_batch(
        classifier.tokenize(list(CHECK_TEXTS)), classifier.tokenizer.pad_token_id
    )
    dynamic = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
        "scores": {0: "batch"},
    }
    temp = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (input_ids, attention_mask),
            str(temp),
            input_names=["input_ids", "attention_mask"],
            output_names=["scores"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    temp.replace(path)


def _export_config(run_dir: Path, classifier: TextClassifier) -> dict:
    names = classifier.label_names
    if (run_dir / THRESHOLDS_FILE).is_file():
        tuned = Thresholds.load(run_dir, names)
        thresholds = {
            "per_label": tuned.vector().tolist(),
            "at_least_one": tuned.at_least_one,
            "kind": tuned.kind,
        }
    else:
        thresholds = {"per_label": [0.5] * len(names), "at_least_one": False, "kind": "fixed"}
    return {
        "model": MODEL_FILE,
        "tokenizer": "tokenizer/tokenizer.json",
        "inputs": ["input_ids", "attention_mask"],
        "output": "scores (sigmoid of the logits), one column per label",
        "max_length": classifier.config.max_length,
        "pad_token_id": classifier.tokenizer.pad_token_id,
        "labels": names,
        "thresholds": thresholds,
        "source_run": str(run_dir),
        "encoder": classifier.config.encoder,
        "head": classifier.config.head,
    }
