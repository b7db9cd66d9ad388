"""A run's full, resolved configuration: preset + dataset settings + command-line overrides.

Two runs with the same spec are the same experiment, so ``compare`` reuses finished runs by the spec's hash. The spec
holds a fingerprint of the data the run read (``data``, see :func:`with_data`), so a run is never reused, nor
resumed, on data that changed since.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..constraints import Interval, Options, check_settings
from ..heads import SCORINGS
from ..pipeline import BASELINE_ENCODERS, ModelConfig, recorded_model_settings
from ..train import LATER_TRAIN_SETTINGS, TrainConfig
from .presets import BASELINE_TRAIN, ENCODER_LR, dataset_settings, method_recipe

# LAN-only options -> the LabelAttentionHead argument they set.
HEAD_OPTIONS = {"lan_scoring": "scoring", "shortlist_size": "shortlist_size"}
MODEL_OVERRIDES = {
    "max_length",
    "lambda_",
    "temperature",
    "augment",
    "queue_size",
    "encoder",
    "head",
    "contrastive",
    "label_init",
    "key_precision",
    *HEAD_OPTIONS,
    "embeddings",
}
DATA_OVERRIDES = {"zones"}  # passed to the dataset's loader (eurlex57k's document parts)
SPEC_VERSION = 2
"""Version 2 specs write every setting down. Version 1 specs (no ``spec_version``: runs recorded before
2026-12-01) predate some settings; :func:`upgraded` reads them with the value those settings had in their runs."""
# Spec fields added during version 1; runs without them had None (format detected, no data fingerprint).
LATER_SPEC_FIELDS = ("format", "data")
TRAIN_OVERRIDES = {"epochs", "batch_size", "lr", "head_lr", "patience", "monitor", "checkpoint_every"}
TRAIN_OVERRIDES |= {"group_by_length", "amp"}  # step options (issue 20 part 5)


@dataclass
class RunSpec:
    """What one ``uclaf-bench run`` trains and evaluates."""

    dataset: str
    method: str
    seed: int = 0
    train_split: str = "train"
    eval_split: str = "test"
    limit_train: int | None = None
    overrides: dict = field(default_factory=dict)
    model: dict | None = None
    train: dict = field(default_factory=dict)
    linear: dict | None = None
    format: str | None = None
    data: dict | None = None
    spec_version: int = SPEC_VERSION

    @property
    def is_linear(self) -> bool:
        return self.model is None

    def key(self) -> str:
        """A short hash of :func:`experiment_identity` (every resolved setting, the data options and the data
        fingerprint, read as the current spec version), so not of how the settings were spelled, nor the device.

        Two specs of the same experiment have the same key whatever their version, so a run recorded before a
        setting existed is found again; folders named by version-1 keys are found by their content
        (:func:`~uclaf_plugin.bench.store.finished_run`).
        """
        text = json.dumps(experiment_identity(asdict(self)), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def command(self) -> str:
        """The ``uclaf-bench run`` line that reproduces this run."""
        parts = [
            "uclaf-bench run",
            f"--dataset {self.dataset}",
            f"--method {self.method}",
            f"--seed {self.seed}",
        ]
        if self.train_split != "train" or self.eval_split != "test":
            parts += [f"--train-split {self.train_split}", f"--eval-split {self.eval_split}"]
        if self.limit_train is not None:
            parts.append(f"--limit-train {self.limit_train}")
        if self.format is not None:
            parts.append(f"--format {self.format}")
        return " ".join(parts + override_options(self.overrides))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        """A saved spec; one without ``spec_version`` is version 1 (written before versions existed)."""
        return cls(**{"spec_version": 1, **data})


def override_options(overrides: dict) -> list[str]:
    """Command-line options that give ``overrides`` (``lambda_`` -> ``--lambda``, ``None`` -> ``none``, a flag
    ``True``/``False`` -> ``--amp``/``--no-amp``)."""
    options = []
    for name, value in overrides.items():
        option = "lambda" if name == "lambda_" else name.replace("_", "-")
        if isinstance(value, bool):
            options.append(f"--{option}" if value else f"--no-{option}")
        else:
            options.append(f"--{option} {'none' if value is None else value}")
    return options


def with_data(spec: RunSpec, fingerprint: dict) -> RunSpec:
    """``spec`` with the fingerprint of the data it reads (``RunData.fingerprint``: content hash and sizes)."""
    return dataclasses.replace(spec, data=dict(fingerprint))


def upgraded(spec: dict) -> dict:
    """A saved spec as a current one: a version-1 spec gets, for each setting added since it was written, the
    value that setting had in its run (:data:`LATER_SPEC_FIELDS`, the model's
    :func:`~uclaf_plugin.pipeline.recorded_model_settings`, :data:`~uclaf_plugin.train.LATER_TRAIN_SETTINGS`).
    A current spec is returned as it is."""
    if spec.get("spec_version", 1) >= SPEC_VERSION:
        return spec
    spec = {**{name: None for name in LATER_SPEC_FIELDS}, **copy.deepcopy(spec), "spec_version": SPEC_VERSION}
    if spec.get("model") is not None:
        spec["model"] = recorded_model_settings(spec["model"])
        spec["train"] = {**LATER_TRAIN_SETTINGS, **spec.get("train", {})}
    return spec


def experiment_identity(spec: dict) -> dict:
    """What decides a run's result: the spec read as the current version (:func:`upgraded`), with the data
    options it was given (``--zones``) but not the rest of ``overrides``, which only say how the resolved
    settings were spelled (``--max-length 128`` where 128 is the default changes nothing)."""
    current = upgraded({"spec_version": 1, **spec})
    data_options = {name: value for name, value in current["overrides"].items() if name in DATA_OVERRIDES}
    return {
        **{name: value for name, value in current.items() if name != "overrides"},
        "data_options": data_options,
    }


def spec_differences(saved: dict, spec: RunSpec) -> list[str]:
    """The fields in which a saved spec (``config.json``'s ``spec``) differs from ``spec``, ``data`` first; both
    are compared as :func:`experiment_identity` reads them."""
    saved, wanted = experiment_identity(saved), experiment_identity(spec.to_dict())
    names = sorted(set(saved) | set(wanted), key=lambda name: (name != "data", name))
    return [name for name in names if saved.get(name) != wanted.get(name)]


def build_spec(
    dataset: str,
    method: str,
    *,
    seed: int = 0,
    train_split: str = "train",
    eval_split: str = "test",
    limit_train: int | None = None,
    overrides: dict | None = None,
    format: str | None = None,
) -> RunSpec:
    """Resolve ``method`` on ``dataset`` with ``overrides`` (``None`` values are ignored)."""
    recipe = method_recipe(method)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_overrides(overrides)
    if limit_train is not None and limit_train < 1:
        raise ValueError(f"--limit-train must be at least 1, got {limit_train}")
    common = {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "train_split": train_split,
        "eval_split": eval_split,
        "limit_train": limit_train,
        "overrides": overrides,
        "format": format,
    }
    if recipe.pop("kind", None) == "linear":  # the neural settings do not apply to the TF-IDF baseline
        data_only = {k: v for k, v in overrides.items() if k in DATA_OVERRIDES}
        return RunSpec(**{**common, "overrides": data_only}, linear={"estimator": "svm", "C": 1.0})
    settings = dataset_settings(dataset)
    resolved = _resolve(recipe, settings, overrides, seed)
    head_kwargs = resolved[0]["head_kwargs"]
    if head_kwargs.get("proposal_standardize") and head_kwargs.get("shortlist_size") is None:
        raise ValueError(
            f"method {method!r} standardises the shortlist's proposal scorer: pass --shortlist-size C"
        )
    common["overrides"] = {
        **_effective(overrides, resolved, recipe, settings, seed),
        **{k: v for k, v in overrides.items() if k in DATA_OVERRIDES},
    }
    model, train = resolved
    return RunSpec(**common, model=model, train=train)


def _resolve(recipe: dict, settings: dict, overrides: dict, seed: int) -> tuple[dict, dict]:
    model = _model_config(recipe, settings["model"], overrides)
    train = _train_config(model, settings["train"], overrides, seed)
    return asdict(model), asdict(train)


def _effective(overrides: dict, resolved: tuple[dict, dict], recipe: dict, settings: dict, seed: int) -> dict:
    """``overrides`` less those that change nothing (they repeat the preset's value) in the ``resolved`` configs.

    ``ablate --positives per_label`` or a sweep value equal to the preset's then has the spec, and so the hash, of
    the plain run, and its finished folder is reused instead of trained again.
    """
    return {
        name: value
        for name, value in overrides.items()
        if _resolve(recipe, settings, {k: v for k, v in overrides.items() if k != name}, seed) != resolved
    }


def _model_config(recipe: dict, dataset_model: dict, overrides: dict) -> ModelConfig:
    values = {**dataset_model, **recipe}
    values.update({k: v for k, v in overrides.items() if k in MODEL_OVERRIDES})
    if "positives" in overrides:
        if values.get("contrastive") is None:
            raise ValueError(
                "--positives needs a contrastive term: this method has none; add --contrastive per_label"
            )
        values["contrastive"] = overrides["positives"]
    if values.get("encoder") not in BASELINE_ENCODERS:  # word vectors are the baselines' input only
        values.pop("embeddings", None)
    if values.get("contrastive") == "none":
        values["contrastive"] = None
    # Without a key branch the key precision changes nothing: one neutral value, so --key-precision keeps the hash.
    if values.get("contrastive") is None:
        values["key_precision"] = "fp32"
    # The preset's head arguments belong to the preset's head; a --head override keeps only the dataset's.
    recipe_head_kwargs = recipe.get("head_kwargs", {}) if values["head"] == recipe["head"] else {}
    values["head_kwargs"] = {**dataset_model.get("head_kwargs", {}), **recipe_head_kwargs}
    _apply_head_options(values, head_chosen="head" in overrides)
    if values["encoder"] != recipe.get("encoder"):  # likewise the preset's encoder arguments
        values.pop("encoder_kwargs", None)
    return ModelConfig(**values)


def _apply_head_options(values: dict, head_chosen: bool) -> None:
    """Move the LAN options (``--lan-scoring``, ``--shortlist-size``) from ``values`` into its ``head_kwargs``.

    A method without LAN ignores them (``compare --methods bert,uclaf --lan-scoring paper`` sets uclaf's); a
    ``--head`` other than ``lan`` with them raises ``ValueError``.
    """
    for option, argument in HEAD_OPTIONS.items():
        if option not in values:
            continue
        value = values.pop(option)
        if values["head"] == "lan":
            values["head_kwargs"][argument] = value
        elif head_chosen:
            flag = option.replace("_", "-")
            raise ValueError(f"--{flag} applies to the lan head only; this run's head is {values['head']!r}")


def _train_config(model: ModelConfig, dataset_train: dict, overrides: dict, seed: int) -> TrainConfig:
    values = dict(dataset_train)
    if model.encoder in ENCODER_LR and model.encoder != "minilm":
        values["lr"] = values["head_lr"] = ENCODER_LR[model.encoder]
        values.update(BASELINE_TRAIN)
    values.update({k: v for k, v in overrides.items() if k in TRAIN_OVERRIDES})
    return TrainConfig(**values, seed=seed, quiet=True)


# What the LAN options accept (they become LabelAttentionHead arguments, outside ModelConfig's own fields).
HEAD_OPTION_CONSTRAINTS = {
    "lan_scoring": [Options(tuple(SCORINGS))],
    "shortlist_size": [Interval(1, None, integer=True)],
}


def option_name(setting: str) -> str:
    """The command-line option of a setting: ``"lambda_"`` -> ``"--lambda"``, ``"max_length"`` -> ``"--max-length"``."""
    return "--" + setting.rstrip("_").replace("_", "-")


def _check_overrides(overrides: dict) -> None:
    known = MODEL_OVERRIDES | TRAIN_OVERRIDES | DATA_OVERRIDES | {"positives"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown settings {unknown}; valid: {sorted(known)}")
    constraints = {
        **ModelConfig._parameter_constraints,
        **HEAD_OPTION_CONSTRAINTS,
        **TrainConfig._parameter_constraints,
    }
    check_settings(overrides, constraints, display=option_name)
