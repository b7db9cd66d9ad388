"""The LAN head's options through the run spec and the CLI (``--lan-scoring``)."""

import pytest

from uclaf_plugin.bench.spec import build_spec


def test_lan_scoring_reaches_the_head_and_the_paper_form_keeps_the_plain_hash():
    plain = build_spec("aapd", "uclaf")
    aware = build_spec("aapd", "uclaf", overrides={"lan_scoring": "per_label_v"})
    paper = build_spec("aapd", "uclaf", overrides={"lan_scoring": "paper"})
    assert aware.model["head_kwargs"]["scoring"] == "per_label_v"
    assert "scoring" not in plain.model["head_kwargs"]
    assert paper.key() == plain.key() and aware.key() != plain.key()
    assert "--lan-scoring per_label_v" in aware.command()


@pytest.mark.parametrize(
    ("overrides", "word"),
    [({"lan_scoring": "cosine"}, "--lan-scoring"), ({"lan_scoring": "per_label_v", "head": "dot"}, "lan head")],
)
def test_bad_lan_options_raise(overrides, word):
    with pytest.raises(ValueError, match=word):
        build_spec("aapd", "uclaf", overrides=overrides)
