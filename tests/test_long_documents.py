"""Documents longer than the encoder's window: overlapping windows stitched into whole-document token features."""

import pytest
import torch

from uclaf_plugin.encoders.transformer import _check_window
from uclaf_plugin.model import UCLAF
from uclaf_plugin.pipeline import pad_batch


def _documents(tokenizer, lengths):
    """Token ids ([CLS] ... [SEP]) of the given lengths, from distinct words, right-padded."""
    words = "the court ruled that member states must notify the commission of any state aid before granting it".split()
    ids = []
    for row, length in enumerate(lengths):
        text = " ".join(words[(row + i) % len(words)] for i in range(3 * length))
        ids.append(tokenizer(text, truncation=True, max_length=length)["input_ids"])
    return pad_batch(ids, tokenizer.pad_token_id)


def _windowed(encoder, window, overlap):
    encoder.window, encoder.window_overlap = window, overlap
    return encoder.eval()


@torch.no_grad()
def test_documents_that_fit_are_encoded_as_by_the_plain_encoder(minilm, tokenizer):
    input_ids, mask = _documents(tokenizer, [14, 9])
    plain = minilm.model.eval()(input_ids=input_ids, attention_mask=mask).last_hidden_state
    features, out_mask = _windowed(minilm, 16, 4)(input_ids, mask)
    torch.testing.assert_close(features, plain)
    assert torch.equal(out_mask, mask.bool())


@torch.no_grad()
def test_long_documents_are_stitched_from_overlapping_windows(minilm, tokenizer):
    """40 tokens, window 16, overlap 4: windows start at 0, 12, 24 and own tokens [0, 14), [14, 26), [26, 40)."""
    input_ids, mask = _documents(tokenizer, [40, 10])
    encoder = _windowed(minilm, 16, 4)
    assert encoder.window_starts(40) == [0, 12, 24]
    features, out_mask = encoder(input_ids, mask)
    assert features.shape == (2, 40, encoder.output_dim) and torch.equal(out_mask, mask.bool())

    def plain(start, end, rows=slice(0, 1)):
        window_ids, window_mask = input_ids[rows, start:end], mask[rows, start:end]
        return minilm.model(input_ids=window_ids, attention_mask=window_mask).last_hidden_state

    expected = torch.cat([plain(0, 16)[:, :14], plain(12, 28)[:, 2:14], plain(24, 40)[:, 2:]], dim=1)
    torch.testing.assert_close(features[:1], expected)
    # the short document: only its first window has tokens, so the others are skipped (zeros where they own)
    torch.testing.assert_close(features[1, :10], plain(0, 10, slice(1, 2))[0])
    assert not features[1, 14:].any()


def test_window_starts_cover_the_document():
    class Windows:
        window, window_overlap = 512, 128

    from uclaf_plugin.encoders.transformer import TransformerEncoder

    starts = TransformerEncoder.window_starts(Windows(), 2048)
    assert starts == [0, 384, 768, 1152, 1536] and starts[-1] + 512 == 2048
    assert TransformerEncoder.window_starts(Windows(), 513) == [0, 384]


def test_uclaf_trains_through_windows_and_lan_attends_over_the_whole_document(minilm, tokenizer):
    input_ids, mask = _documents(tokenizer, [40, 25])
    encoder = _windowed(minilm, 16, 4).train()
    model = UCLAF(encoder, 5, head="lan", queue_size=0, head_kwargs={"attention_dim": 16})
    labels = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    model(input_ids, mask, labels=labels).loss.backward()
    first_layer = minilm.model.encoder.layer[0].attention.self.query.weight
    assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        attention = model(input_ids, mask, return_attention=True).attention
    assert attention.shape[-1] == 40 and attention[0, :, 30:].sum() > 0  # tokens of the third window


@pytest.mark.parametrize(
    ("window", "overlap", "message"),
    [
        (600, 128, "window must be"),
        (0, 0, "window must be"),
        (64, 64, "window_overlap"),
        (64, -1, "window_overlap"),
    ],
)
def test_bad_windows_are_rejected(window, overlap, message):
    with pytest.raises(ValueError, match=message):
        _check_window(window, overlap, 512)
