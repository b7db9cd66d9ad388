import itertools
from collections import Counter

import pytest
import torch

from uclaf_plugin.augment import AUGMENTATIONS, make_view

CLS, SEP, MASK, PAD = 101, 102, 103, 0
SPECIAL = (CLS, SEP)
KINDS = ("dropout", "random_mask", "span_mask", "shuffle")


def make_batch(batch=64, length=40, seed=0):
    """[CLS] words... [SEP] pad..., random lengths (some empty), with an extra [SEP] inside some documents."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 30000, (batch, length), generator=g)
    lengths = torch.randint(0, length - 1, (batch,), generator=g)
    lengths[0], lengths[1] = 0, length - 2
    positions = torch.arange(length)
    ids[:, 0] = CLS
    ids[positions.expand(batch, -1) == (lengths + 1).unsqueeze(1)] = SEP
    ids[positions.expand(batch, -1) > (lengths + 1).unsqueeze(1)] = PAD
    ids[::3, length // 3] = torch.where(lengths[::3] + 1 > length // 3, SEP, ids[::3, length // 3])
    return ids, (ids != PAD).long()


def view(kind, ids, mask, seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    return make_view(kind, ids, mask, mask_token_id=MASK, special_token_ids=SPECIAL, generator=g, **kwargs)


def editable(ids, mask):
    return mask.bool() & (ids != CLS) & (ids != SEP)


def masked_runs(row_masked, row_editable):
    """(start, end, touches_boundary) of each maximal run of masked positions, by a plain scan."""
    runs, start = [], None
    for t, flag in enumerate(row_masked + [False]):
        if flag and start is None:
            start = t
        if not flag and start is not None:
            before_ok = start > 0 and row_editable[start - 1]
            after_ok = t < len(row_editable) and row_editable[t]
            runs.append((start, t, not (before_ok and after_ok)))
            start = None
    return runs


def test_registry_and_unknown_kind():
    assert set(AUGMENTATIONS) == set(KINDS)
    ids, mask = make_batch(4)
    with pytest.raises(ValueError, match="random_mask.*span_mask.*shuffle"):
        view("crop", ids, mask)


@pytest.mark.parametrize("bad", [dict(p=1.5), dict(p=-0.1), dict(span_length=0)])
def test_bad_settings_raise(bad):
    ids, mask = make_batch(4)
    with pytest.raises(ValueError, match=next(iter(bad))):
        view("span_mask", ids, mask, **bad)


def test_shape_mismatch_raises():
    ids, mask = make_batch(4)
    with pytest.raises(ValueError, match="attention_mask"):
        view("random_mask", ids, mask[:, :-1])


@pytest.mark.parametrize("kind", KINDS)
def test_special_tokens_padding_and_mask_unchanged(kind):
    ids, mask = make_batch()
    original = ids.clone()
    new_ids, new_mask = view(kind, ids, mask, p=0.5)
    fixed = ~editable(ids, mask)
    assert torch.equal(new_ids[fixed], ids[fixed])
    assert torch.equal(new_mask, mask)
    assert torch.equal(ids, original), "the input must not be modified in place"
    assert new_ids.dtype == ids.dtype and new_ids.shape == ids.shape


def test_dropout_view_is_identity():
    ids, mask = make_batch()
    assert torch.equal(view("dropout", ids, mask)[0], ids)


@pytest.mark.parametrize("kind", ["random_mask", "span_mask"])
def test_masking_only_writes_mask_token(kind):
    ids, mask = make_batch()
    new_ids = view(kind, ids, mask, p=0.3)[0]
    changed = new_ids != ids
    assert changed.any()
    assert (new_ids[changed] == MASK).all()
    assert torch.equal(view(kind, ids, mask, p=0.0)[0], ids)


@pytest.mark.parametrize("kind", ["random_mask", "span_mask"])
@pytest.mark.parametrize("p", [0.15, 0.4])
def test_mask_rate_close_to_p(kind, p):
    ids, mask = make_batch(batch=512, length=64)
    can_change = editable(ids, mask)
    rate = (view(kind, ids, mask, p=p)[0] == MASK)[can_change].float().mean().item()
    assert abs(rate - p) < 0.015


def test_span_mask_rate_is_uniform_along_the_document():
    # First and last real tokens are masked as often as middle ones (no edge effect).
    ids = torch.randint(1000, 30000, (4000, 12))
    mask = torch.ones_like(ids)
    masked = view("span_mask", ids, mask, p=0.3, span_length=4)[0] == MASK
    per_position = masked.float().mean(0)
    assert torch.allclose(per_position, torch.full_like(per_position, 0.3), atol=0.03)


def test_span_mask_makes_contiguous_spans():
    span = 5
    ids, mask = make_batch(batch=256, length=64)
    can_change = editable(ids, mask)
    masked = view("span_mask", ids, mask, p=0.1, span_length=span)[0] == MASK
    inner_lengths = []
    for row_masked, row_editable in zip(masked.tolist(), can_change.tolist(), strict=True):
        for start, end, touches_boundary in masked_runs(row_masked, row_editable):
            if not touches_boundary:
                inner_lengths.append(end - start)
    assert inner_lengths and min(inner_lengths) >= span
    random_masked = view("random_mask", ids, mask, p=0.1)[0] == MASK
    random_runs = [
        end - start
        for m, e in zip(random_masked.tolist(), can_change.tolist(), strict=True)
        for start, end, _ in masked_runs(m, e)
    ]
    assert sum(random_runs) / len(random_runs) < 1.5 < sum(inner_lengths) / len(inner_lengths)


def test_shuffle_permutes_each_document_real_tokens():
    ids, mask = make_batch()
    new_ids = view("shuffle", ids, mask)[0]
    can_change = editable(ids, mask)
    for row in range(ids.shape[0]):
        before, after = ids[row][can_change[row]], new_ids[row][can_change[row]]
        assert torch.equal(torch.sort(before).values, torch.sort(after).values)
    assert not torch.equal(new_ids, ids)


def test_shuffle_is_uniform_over_permutations():
    ids = torch.tensor([[CLS, 7, 8, 9, SEP, PAD]]).repeat(6000, 1)
    new_ids = view("shuffle", ids, (ids != PAD).long())[0]
    counts = Counter(tuple(row) for row in new_ids[:, 1:4].tolist())
    assert set(counts) == set(itertools.permutations((7, 8, 9)))
    assert all(abs(count / 6000 - 1 / 6) < 0.025 for count in counts.values())


@pytest.mark.parametrize("kind", ["random_mask", "span_mask", "shuffle"])
def test_deterministic_under_a_generator(kind):
    ids, mask = make_batch()
    first, again = view(kind, ids, mask, seed=7)[0], view(kind, ids, mask, seed=7)[0]
    other = view(kind, ids, mask, seed=8)[0]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_no_special_token_ids_means_only_padding_is_kept():
    ids, mask = make_batch(batch=8)
    new_ids, _ = make_view("random_mask", ids, mask, mask_token_id=MASK, p=1.0)
    assert torch.equal(new_ids == MASK, mask.bool())
