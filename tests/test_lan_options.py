"""The LAN head's options through the run spec and the CLI (``--lan-scoring``)."""

import pytest

from uclaf_plugin.bench.spec import RunSpec, build_spec
from uclaf_plugin.heads import DEFAULT_SCORING
from uclaf_plugin.pipeline import ModelConfig


def test_lan_scoring_reaches_the_head_and_the_paper_form_keeps_the_hash_runs_were_recorded_with():
    plain = build_spec("aapd", "uclaf")
    aware = build_spec("aapd", "uclaf", overrides={"lan_scoring": "per_label_v"})
    paper = build_spec("aapd", "uclaf", overrides={"lan_scoring": "paper"})
    multiplicative = build_spec("aapd", "uclaf", overrides={"lan_scoring": "multiplicative"})
    assert plain.model["head_kwargs"]["scoring"] == DEFAULT_SCORING == "multiplicative"
    assert aware.model["head_kwargs"]["scoring"] == "per_label_v"
    assert paper.model["head_kwargs"]["scoring"] == "paper"
    assert multiplicative.key() == plain.key()
    assert len({plain.key(), aware.key(), paper.key()}) == 3
    assert "--lan-scoring per_label_v" in aware.command() and "--lan-scoring paper" in paper.command()
    # a version-1 spec, written before scoring existed (no scoring anywhere), is the paper's form: it has the key
    # of --lan-scoring paper, so compare finds its run again
    written = {name: value for name, value in paper.to_dict().items() if name != "spec_version"}
    del written["model"]["head_kwargs"]["scoring"]
    written["overrides"].pop("lan_scoring")
    recorded = RunSpec.from_dict(written)
    assert recorded.spec_version == 1 and recorded.key() == paper.key() != plain.key()
    assert ModelConfig.from_dict(recorded.model).head_kwargs["scoring"] == "paper"


def test_lan_options_leave_methods_without_lan_alone_but_not_a_chosen_head():
    bert = build_spec("aapd", "bert")
    assert (
        build_spec("aapd", "bert", overrides={"lan_scoring": "paper", "shortlist_size": 8}).key()
        == bert.key()
    )
    with pytest.raises(ValueError, match="lan head"):
        build_spec("aapd", "uclaf", overrides={"lan_scoring": "paper", "head": "dot"})


def test_a_model_saved_before_scoring_existed_loads_with_the_paper_form(tmp_path):
    """Its config.json has no scoring; "paper" and "multiplicative" have the same parameters, so only the rule
    tells them apart: a saved model must keep the attention it was trained with."""
    from uclaf_plugin.files import read_json, write_json
    from uclaf_plugin.pipeline import TextClassifier

    config = ModelConfig(encoder="xmlcnn", head="lan", contrastive=None, max_length=16)
    assert config.head_kwargs["scoring"] == "multiplicative"
    classifier = TextClassifier.from_config(config, ["a", "b", "c"], pretrained=False)
    classifier.save(tmp_path / "new")
    saved = read_json(tmp_path / "new" / "config.json")
    assert saved["model"]["head_kwargs"]["scoring"] == "multiplicative"
    assert TextClassifier.load(tmp_path / "new").model.head.scoring == "multiplicative"
    del saved["model"]["head_kwargs"]["scoring"]
    write_json(tmp_path / "new" / "config.json", saved)
    assert TextClassifier.load(tmp_path / "new").model.head.scoring == "paper"


@pytest.mark.parametrize(
    ("overrides", "word"),
    [
        ({"lan_scoring": "cosine"}, "--lan-scoring"),
        ({"lan_scoring": "per_label_v", "head": "dot"}, "lan head"),
        ({"shortlist_size": 4, "head": "linear"}, "lan head"),
    ],
)
def test_bad_lan_options_raise(overrides, word):
    with pytest.raises(ValueError, match=word):
        build_spec("aapd", "uclaf", overrides=overrides)


def test_a_standardized_proposal_needs_a_shortlist():
    with pytest.raises(ValueError, match="--shortlist-size"):
        build_spec("aapd", "uclaf-std-proposal")
    head_kwargs = build_spec("aapd", "uclaf-std-proposal", overrides={"shortlist_size": 8}).model[
        "head_kwargs"
    ]
    assert head_kwargs["proposal_standardize"] is True and head_kwargs["shortlist_size"] == 8


def test_a_shortlisted_lan_run_records_label_specificity_and_draws_word_attention(tmp_path):
    import json
    import math

    from typer.testing import CliRunner

    from uclaf_plugin.cli import app

    folder, png = tmp_path / "run", tmp_path / "attention.png"
    fast = ["--dataset", "synthetic", "--epochs", "1", "--limit-train", "48", "--max-length", "24", "--quiet"]
    options = ["--lan-scoring", "per_label_v", "--shortlist-size", "3"]
    args = ["run", "--method", "xmlcnn+lan", *fast, *options, "--output", str(folder)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "config.json").read_text())["model"]["head_kwargs"]["shortlist_size"] == 3
    stats = json.loads((folder / "metrics.json").read_text())["attention_specificity"]
    assert 0 < stats["attention_docs"] <= 256
    assert 0 <= stats["attention_js"] <= math.log(2) and 0 <= stats["attention_argmax_differs"] <= 1
    plot = ["plot", "attention", "--run", str(folder), "--docs", "2", "--output", str(png)]
    assert CliRunner().invoke(app, plot, catch_exceptions=False).exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_word_pieces_merge_into_words_with_summed_attention():
    import numpy as np

    from uclaf_plugin.bench.plots import merge_word_pieces

    words, weights = merge_word_pieces(
        ["[CLS]", "atten", "##tion", "is", "un", "##want", "##ed"],
        np.array([[0.1, 0.2, 0.1, 0.1, 0.2, 0.2, 0.1]]),
    )
    assert words == ["[CLS]", "attention", "is", "unwanted"]
    np.testing.assert_allclose(weights, [[0.1, 0.3, 0.1, 0.5]])


def test_uclaf_trains_a_shortlisted_head_through_its_own_loss():
    import torch

    from uclaf_plugin.heads import LabelAttentionHead
    from uclaf_plugin.model import UCLAF

    class Embed(torch.nn.Module):
        output_dim = 8

        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(20, 8)

        def forward(self, input_ids, attention_mask):
            return self.embedding(input_ids), attention_mask

    torch.manual_seed(0)
    model = UCLAF(Embed(), 6, contrastive=None, head_kwargs={"attention_dim": 4, "shortlist_size": 2}).eval()
    input_ids, mask = torch.randint(20, (3, 5)), torch.ones(3, 5, dtype=torch.long)
    labels = torch.zeros(3, 6)
    labels[:, 4] = 1
    loss = model(input_ids, mask, labels=labels).loss
    assert isinstance(model.head, LabelAttentionHead) and model.head.proposal is not None
    features, feature_mask = model.encoder(input_ids, mask)
    torch.testing.assert_close(loss, model.head.loss(features, feature_mask, labels))
    loss.backward()
    assert model.head.proposal.weight.grad.abs().sum() > 0 and model.encoder.embedding.weight.grad is not None


def test_a_shortlist_with_label_names_writes_down_its_text_proposal_and_older_ones_read_as_random():
    shortlisted = {"shortlist_size": 64}
    names = build_spec("eurlex57k", "uclaf", overrides={"label_init": "names", **shortlisted})
    assert names.model["head_kwargs"]["proposal_init"] == "label_init"
    for overrides in (shortlisted, {"label_init": "names"}):  # without both, the setting does not apply
        assert (
            "proposal_init" not in build_spec("eurlex57k", "uclaf", overrides=overrides).model["head_kwargs"]
        )
    # a spec written before the setting existed (the H200 EURLEX57K run) is what its run was: a random start
    written = {name: value for name, value in names.to_dict().items() if name != "spec_version"}
    del written["model"]["head_kwargs"]["proposal_init"]
    recorded = RunSpec.from_dict(written)
    assert recorded.key() != names.key()
    assert ModelConfig.from_dict(recorded.model).head_kwargs["proposal_init"] == "random"
