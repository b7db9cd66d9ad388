"""Declared setting constraints: one table per settings class, checked by one function."""

import math

import pytest

from uclaf_plugin.bench.spec import build_spec
from uclaf_plugin.constraints import Interval, Options, check_settings, describe
from uclaf_plugin.pipeline import ModelConfig


@pytest.mark.parametrize(
    ("interval", "inside", "outside"),
    [
        (Interval(0, None, closed="neither"), [1e-9, 3.0, 1e9], [0, -1.0, math.nan, True, "1"]),
        (Interval(0, 1, closed="left"), [0, 0.5, 0.999], [1, 1.5, -0.1]),
        (Interval(1, None, integer=True), [1, 64], [0, 1.5, 2.0, False]),
        (Interval(0, None), [0, 0.0, 7], [-1e-12]),
    ],
)
def test_interval_accepts_exactly_its_members(interval, inside, outside):
    assert all(interval.accepts(value) for value in inside)
    assert not any(interval.accepts(value) for value in outside)


def test_descriptions_say_what_is_accepted():
    assert str(Interval(0, None, closed="neither")) == "a number in (0, inf)"
    assert str(Interval(0, 1, closed="left")) == "a number in [0, 1)"
    assert str(Interval(1, None, integer=True)) == "an integer in [1, inf)"
    assert describe([None, Options(("names",))]) == "None or one of 'names'"


def test_check_settings_names_the_setting_what_it_accepts_and_what_it_got():
    table = {"temperature": [Interval(0, None, closed="neither")], "label_init": [None, Options(("names",))]}
    check_settings({"temperature": 0.5, "label_init": None, "unlisted": object()}, table)
    with pytest.raises(ValueError, match=r"^--temperature must be a number in \(0, inf\), got 0$"):
        check_settings({"temperature": 0}, table, display=lambda name: f"--{name}")
    with pytest.raises(ValueError, match=r"label_init must be None or one of 'names', got 'ids'"):
        check_settings({"label_init": "ids"}, table)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 0.0),
        ("lambda_", -0.5),
        ("momentum", 1.0),
        ("queue_size", -1),
        ("max_length", 0),
        ("augment", "crop"),
        ("key_precision", "fp16"),
        ("label_init", "ids"),
        ("embeddings", "fasttext"),
    ],
)
def test_model_config_and_the_cli_refuse_the_same_values(field, value):
    """ModelConfig checks its own table; the run spec checks command-line values against the same table."""
    with pytest.raises(ValueError, match=f"ModelConfig.{field}"):
        ModelConfig(**{field: value})
    if field == "momentum":  # not a command-line option
        return
    option = "--" + field.rstrip("_").replace("_", "-")
    with pytest.raises(ValueError, match=option):
        build_spec("aapd", "uclaf", overrides={field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 2.5),
        ("lr", 0.0),
        ("head_lr", -1e-3),
        ("warmup_ratio", 1.0),
        ("patience", 0),
    ],
)
def test_train_config_and_the_cli_refuse_the_same_values(field, value):
    from uclaf_plugin.train import TrainConfig

    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**{field: value})
    if field in ("warmup_ratio",):  # not a command-line option
        return
    with pytest.raises(ValueError, match="--" + field.replace("_", "-")):
        build_spec("aapd", "uclaf", overrides={field: value})
