"""Second views of a tokenized batch for the contrastive key branch.

Every view keeps padding and special tokens where they are; only real, non-special tokens ("editable" ones)
change. All kinds are vectorized over the batch and deterministic under a given ``torch.Generator``.

- ``dropout``: identity; the two views differ only by the model's dropout masks (SimCSE).
- ``random_mask``: each editable token becomes ``mask_token_id`` with probability ``p``.
- ``span_mask``: contiguous spans of ``span_length`` tokens become ``mask_token_id``, covering a fraction
  ``p`` of the editable tokens in expectation (span starts are Bernoulli draws, so spans may merge or be cut
  by a special token or the end of the document).
- ``shuffle``: the editable tokens of each document are randomly permuted among their own positions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ViewOptions:
    """Settings shared by the augmentations."""

    mask_token_id: int
    p: float
    span_length: int
    generator: torch.Generator | None


def dropout_view(input_ids: Tensor, editable: Tensor, options: ViewOptions) -> Tensor:
    """The input unchanged: the model's dropout makes the second view."""
    return input_ids.clone()


def random_mask_view(input_ids: Tensor, editable: Tensor, options: ViewOptions) -> Tensor:
    """Replace each editable token by the mask token with probability ``p``."""
    draws = _uniform(input_ids.shape, input_ids.device, options.generator)
    return input_ids.masked_fill(editable & (draws < options.p), options.mask_token_id)


def span_mask_view(input_ids: Tensor, editable: Tensor, options: ViewOptions) -> Tensor:
    """Mask contiguous spans so each editable token is masked with probability ``p``.

    A span of ``span_length`` may start at any position, including ``span_length - 1`` virtual positions
    before the first, each with probability ``q = 1 - (1 - p)^(1/span_length)``; a token is covered when one
    of the ``span_length`` starts that reach it is drawn, which happens with probability exactly ``p``.
    """
    batch, length = input_ids.shape
    width = options.span_length
    start_probability = 1.0 - (1.0 - options.p) ** (1.0 / width)
    starts = _uniform((batch, length + width - 1), input_ids.device, options.generator) < start_probability
    started = torch.nn.functional.pad(starts.long().cumsum(1), (1, 0))
    covered = (started[:, width:] - started[:, :length]) > 0  # any start in the width positions that reach t
    return input_ids.masked_fill(editable & covered, options.mask_token_id)


def shuffle_view(input_ids: Tensor, editable: Tensor, options: ViewOptions) -> Tensor:
    """Permute each document's editable tokens uniformly at random among their positions."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    # Editable positions first (in order / in random order), then the others in order in both sorts.
    in_order = torch.sort(torch.where(editable, positions, positions + input_ids.shape[1]), dim=1).indices
    draws = _uniform(input_ids.shape, input_ids.device, options.generator)
    shuffled = torch.sort(torch.where(editable, draws, 1.0 + positions), dim=1, stable=True).indices
    return input_ids.scatter(1, in_order, input_ids.gather(1, shuffled))


AUGMENTATIONS: dict[str, Callable[[Tensor, Tensor, ViewOptions], Tensor]] = {
    "dropout": dropout_view,
    "random_mask": random_mask_view,
    "span_mask": span_mask_view,
    "shuffle": shuffle_view,
}


def make_view(
    kind: str,
    input_ids: Tensor,
    attention_mask: Tensor,
    *,
    mask_token_id: int,
    special_token_ids: Sequence[int] = (),
    p: float = 0.15,
    span_length: int = 5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Return a second view ``(input_ids, attention_mask)`` of a batch ``(B, T)``; see the module docstring.

    ``generator``, when given, must be on ``input_ids.device``; the same generator state gives the same view.
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation kind={kind!r}; choose one of {', '.join(AUGMENTATIONS)}")
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"input_ids and attention_mask must both have shape (batch, length), "
            f"got {tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
        )
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if span_length < 1:
        raise ValueError(f"span_length must be >= 1, got {span_length}")
    special = torch.as_tensor(list(special_token_ids), dtype=input_ids.dtype, device=input_ids.device)
    editable = attention_mask.bool() & ~torch.isin(input_ids, special)
    options = ViewOptions(mask_token_id, p, span_length, generator)
    return AUGMENTATIONS[kind](input_ids, editable, options), attention_mask.clone()


def _uniform(shape: Sequence[int], device: torch.device, generator: torch.Generator | None) -> Tensor:
    return torch.rand(tuple(shape), device=device, generator=generator)
