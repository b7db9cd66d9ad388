"""Lists of runs behind ``compare``, ``ablate`` and ``sweep``, and running them with reuse of finished ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..pipeline import BASELINE_ENCODERS
from .presets import method_recipe
from .spec import RunSpec, build_spec
from .store import default_run_dir, finished_run, load_run

# The paper's Table 4: each component on top of the fine-tuned encoder.
COMPONENT_ABLATION = [
    ("baseline", "bert"),
    ("+LAN", "bert-lan"),
    ("+CACL", "bert-cacl"),
    ("+LAN +CACL (UCLAF)", "uclaf"),
]
SWEEP_PARAMS = {"lambda": "lambda_", "temperature": "temperature"}


def shared_overrides(method: str, overrides: dict) -> dict:
    """The settings of a multi-method command that apply to ``method``.

    One ``--lr`` is shared by all methods of ``compare``, ``ablate`` and ``sweep``: it is the learning rate of the
    pretrained transformer; encoders trained from scratch (XML-CNN, AttentionXML) keep their preset rate.
    """
    encoder = overrides.get("encoder") or method_recipe(method).get("encoder")
    if encoder in BASELINE_ENCODERS:
        return {k: v for k, v in overrides.items() if k != "lr"}
    return dict(overrides)


def compare_specs(dataset: str, methods: list[str], overrides: dict | None = None, **common):
    overrides = overrides or {}
    return [
        (method, build_spec(dataset, method, overrides=shared_overrides(method, overrides), **common))
        for method in methods
    ]


def ablation_specs(
    dataset: str, positives: list[str] | None = None, augments: list[str] | None = None, **common
):
    """Table 4 by default; Table 5 with ``positives``; Table 6 with ``augments`` (both on the ``uclaf`` method)."""
    if positives and augments:
        raise ValueError("ablate one thing at a time: give --positives or --augment, not both")
    overrides = common.pop("overrides", {}) or {}
    if positives:
        return [
            (p, build_spec(dataset, "uclaf", overrides={**overrides, "positives": p}, **common))
            for p in positives
        ]
    if augments:
        return [
            (a, build_spec(dataset, "uclaf", overrides={**overrides, "augment": a}, **common))
            for a in augments
        ]
    return [
        (label, build_spec(dataset, method, overrides=overrides, **common))
        for label, method in COMPONENT_ABLATION
    ]


def sweep_specs(dataset: str, param: str, values: list[float], method: str = "uclaf", **common):
    """One ``method`` run per value of ``param`` (``lambda`` or ``temperature``)."""
    if param not in SWEEP_PARAMS:
        raise ValueError(f"--param {param!r} is not valid; choose one of {', '.join(SWEEP_PARAMS)}")
    overrides = shared_overrides(method, common.pop("overrides", {}) or {})
    key = SWEEP_PARAMS[param]
    if key in overrides:
        flag = "--lambda" if param == "lambda" else "--temperature"
        raise ValueError(f"{flag} is the swept setting (--param {param}): give its values with --values only")
    return [
        (f"{param}={v:g}", build_spec(dataset, method, overrides={**overrides, key: v}, **common))
        for v in values
    ]


def run_specs(
    labelled: list[tuple[str, RunSpec]],
    execute_one: Callable[[RunSpec, Path], None],
    root: str | Path,
    reuse: bool = True,
    announce: Callable[[str], None] = print,
) -> list[tuple[str, dict]]:
    """Run each spec (or reuse its finished folder under ``root``); returns ``(label, loaded run)`` pairs."""
    results = []
    for position, (label, spec) in enumerate(labelled, start=1):
        folder = finished_run(spec, root) if reuse else None
        if folder is None:
            folder = default_run_dir(spec, root)
            announce(
                f"[{position}/{len(labelled)}] {label}: training {spec.method} on {spec.dataset} -> {folder}"
            )
            execute_one(spec, folder)
        else:
            announce(f"[{position}/{len(labelled)}] {label}: reusing {folder}")
        results.append((label, load_run(folder)))
    return results
